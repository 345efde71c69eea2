"""Latency analysis: summary statistics, end-to-end per-query times and ratios.

One module answers "what does this system cost per query" for the report, the snapshot and
the gate alike, so that they agree:

- `latency_stats`: mean and numpy's linear-interpolation percentiles of samples (ms);
- end to end: a fused system's own cell times only its own stages; a service that answers
  with it runs its inputs first. Its end-to-end time per query is therefore its own sample
  plus every input's sample for the same query (inputs of inputs included, each once);
- `pipeline_percentiles` / `latency_ratios`: p50/p95 per system, and as ratios to a
  reference system measured in the same run (absolute times on shared machines are noise,
  ratios within one run are not).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.results import Cell, ResultSet

PERCENTILES = ("p50", "p95")
_STAT_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}
_LATENCY_KEYS = ("latency", "query_latency", "per_query_latency", "summary")
_PER_QUERY_KEYS = ("per_query", "per_query_s", "per_query_ms", "samples_ms", "samples", "query_times")


def latency_stats(samples_ms: Sequence[float]) -> dict[str, float]:
    """mean, p50, p90, p95, p99 and max of latency samples (ms), plus their count `n`.

    Percentiles use numpy's default linear interpolation. An empty sample gives `{"n": 0}`.
    """
    import numpy as np

    if len(samples_ms) == 0:
        return {"n": 0}
    a = np.asarray(samples_ms, dtype=np.float64)
    out = {"n": int(a.size), "mean": round(float(a.mean()), 6)}
    for name, q in _STAT_PERCENTILES.items():
        out[name] = round(float(np.percentile(a, q)), 6)
    out["max"] = round(float(a.max()), 6)
    return out


SAMPLE_KEYS = {"wall": "samples_ms", "cpu": "cpu_samples_ms"}


@dataclass(frozen=True)
class EndToEndSamples:
    inputs: tuple[Cell, ...] | None
    """Every cell the system reads, transitively; None when one of them is not in the results."""
    samples: tuple[float, ...] | None
    """Per-query times including the inputs' (ms), in the cell's query order; None when an input
    has no times or times other queries. For a system without inputs, its own samples."""


def input_cells(cell: Cell, by_name: Mapping[str, Cell], bases: Mapping[str, list[str]]) -> list[Cell] | None:
    """Every cell `cell` reads, transitively (each once), or None if one is not in the results."""
    out: dict[str, Cell] = {}
    todo = [str(d) for d in cell.timing.get("depends_on") or []]
    while todo:
        name = todo.pop(0)
        target = by_name.get(name)
        if target is None and len(bases.get(name, [])) == 1:
            target = by_name.get(bases[name][0])
        if target is None:
            return None
        if target.system in out or target.system == cell.system:
            continue
        out[target.system] = target
        todo.extend(str(d) for d in target.timing.get("depends_on") or [])
    return list(out.values())


def _floats(value: object) -> list[float] | None:
    if isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    return None


def end_to_end_samples(
    results: ResultSet, cells: Sequence[Cell], key: str = "samples_ms"
) -> dict[str, EndToEndSamples]:
    """For each cell of one dataset: its inputs and its end-to-end per-query samples under `key`."""
    by_name = {c.system: c for c in cells}
    bases: dict[str, list[str]] = {}
    for c in cells:
        bases.setdefault(str(results.systems.get(c.system, {}).get("base", c.system)), []).append(c.system)
    out: dict[str, EndToEndSamples] = {}
    for c in cells:
        inputs = input_cells(c, by_name, bases)
        own = _floats(c.timing.get(key))
        if inputs is None or own is None:
            out[c.system] = EndToEndSamples(tuple(inputs) if inputs is not None else None, None)
            continue
        total, complete = own, True
        qids = c.timing.get("query_ids")
        for dep in inputs:
            dep_samples = _floats(dep.timing.get(key))
            if dep_samples is None or dep.timing.get("query_ids") != qids or len(dep_samples) != len(total):
                complete = False
                break
            total = [a + b for a, b in zip(total, dep_samples, strict=True)]
        out[c.system] = EndToEndSamples(tuple(inputs), tuple(total) if complete else None)
    return out


def _percentile_value(block: Mapping[str, Any], name: str) -> float | None:
    """`p50`, `p50_s`, `p50_ms`, `p50_seconds`… : the first finite positive number found."""
    for key, value in block.items():
        if (
            (key == name or key.startswith(name + "_"))
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
        ):
            v = float(value)
            if math.isfinite(v) and v > 0:
                return v
    return None


Clock = Literal["wall", "cpu"]


def latency_percentiles(timing: Mapping[str, Any], clock: Clock = "wall") -> dict[str, float] | None:
    """p50 and p95 per-query latency from a cell's `timing`, or None when none was recorded.

    `clock="cpu"` reads the per-query CPU times (`cpu_latency` / `cpu_samples_ms`) instead.

    Reads a summary mapping (`timing["latency"]["p50"]`, `..._ms` or `..._s`), or computes
    the percentiles from per-query times (`timing["per_query"]`: a list or {qid: seconds}),
    looking one level down too. Units do not matter: the gate only compares ratios.
    """
    import numpy as np

    def summary(block: Mapping[str, Any], depth: int) -> dict[str, float] | None:
        found = {p: _percentile_value(block, p) for p in PERCENTILES}
        if all(v is not None for v in found.values()):
            return {p: float(v) for p, v in found.items() if v is not None}
        for key in _LATENCY_KEYS if depth > 0 else ():
            sub = block.get(key)
            got = summary(sub, depth - 1) if isinstance(sub, Mapping) else None
            if got is not None:
                return got
        return None

    def samples(block: Mapping[str, Any], depth: int) -> dict[str, float] | None:
        for key in _PER_QUERY_KEYS:
            times = block.get(key)
            values = list(times.values()) if isinstance(times, Mapping) else times
            if isinstance(values, list) and values and all(isinstance(v, (int, float)) for v in values):
                arr = np.asarray(values, dtype=float)
                return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95))}
        for key in _LATENCY_KEYS if depth > 0 else ():
            sub = block.get(key)
            got = samples(sub, depth - 1) if isinstance(sub, Mapping) else None
            if got is not None:
                return got
        return None

    if not isinstance(timing, Mapping):
        return None
    if clock == "cpu":
        block = {"latency": timing.get("cpu_latency") or {}, "samples_ms": timing.get("cpu_samples_ms")}
        return summary(block, 1) or samples(block, 0)
    return summary(timing, 2) or samples(timing, 2)


def pipeline_percentiles(results: ResultSet, dataset: str, clock: Clock = "wall") -> dict[str, dict[str, float]]:
    """{system: {"p50": ms, "p95": ms}} for the cells of `dataset` with per-query times.

    A system that reads other systems' runs (fusion, `use`) is timed end to end, its inputs'
    times added query by query, as the report shows it; its own stages alone would make a
    fusion look nearly free."""
    import numpy as np

    cells = [c for c in results.cells if c.dataset == dataset]
    e2e = end_to_end_samples(results, cells, SAMPLE_KEYS[clock])
    out: dict[str, dict[str, float]] = {}
    for c in cells:
        entry = e2e[c.system]
        if entry.inputs == ():
            lat = latency_percentiles(c.timing, clock)
        elif entry.samples:
            arr = np.asarray(entry.samples, dtype=float)
            lat = {p: float(np.percentile(arr, int(p[1:]))) for p in PERCENTILES}
        else:
            lat = None
        if lat is not None and all(v > 0 for v in lat.values()):
            out[c.system] = lat
    return out


def latency_ratios(
    results: ResultSet, dataset: str, reference: str, clock: Clock = "wall"
) -> dict[str, dict[str, float]]:
    """{system: {"p50": ms, "p95": ms, "p50_ratio": r, "p95_ratio": r}} for every system of
    `dataset` with latency, when the reference system has latency too; else {}."""
    lat = pipeline_percentiles(results, dataset, clock)
    ref = lat.get(reference)
    if ref is None:
        return {}
    return {s: {**v, **{f"{p}_ratio": v[p] / ref[p] for p in PERCENTILES}} for s, v in lat.items()}


def default_reference(results: ResultSet) -> str | None:
    """The latency reference: the spec's gate.latency.reference, else compare.baseline, else the
    first system."""
    spec = results.manifest.get("spec") if isinstance(results.manifest, Mapping) else None
    if isinstance(spec, Mapping):
        gate = spec.get("gate")
        if isinstance(gate, Mapping) and isinstance(gate.get("latency"), Mapping):
            ref = gate["latency"].get("reference")
            if isinstance(ref, str):
                return ref
        comp = spec.get("compare")
        if isinstance(comp, Mapping) and isinstance(comp.get("baseline"), str):
            return str(comp["baseline"])
    return next(iter(results.systems), None)
