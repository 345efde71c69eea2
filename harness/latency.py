"""Latency analysis: summary statistics, end-to-end per-query times and ratios.

One module answers "what does this system cost per query" for the report, the snapshot and
the gate alike, so that they agree:

- end to end: a fused system's own cell times only its own stages; a service that answers
  with it runs its inputs first. Its end-to-end time per query is therefore its own sample
  plus every input's sample for the same query (inputs of inputs included, each once);
- `pipeline_percentiles` / `latency_ratios`: p50/p95 per system, and as ratios to a
  reference system measured in the same run (absolute times on shared machines are noise,
  ratios within one run are not);
- scope: `end-to-end` (default) is everything the pipeline did per query; `search-only`
  leaves out query encoding (the stages' `encode` steps), so that approximate indexes that
  share one encoder show what their search costs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from harness.results import Cell, ResultSet
from harness.sections import LatencyScope
from harness.timing import LatencyStats, Timing

PERCENTILES = ("p50", "p95")
Clock = Literal["wall", "cpu"]


@dataclass(frozen=True)
class EndToEnd:
    """A system's query-time cost including the systems whose runs it reads (fusion inputs, `use`).

    Per-query samples are summed query by query (the inputs run one after the other) and batch
    seconds are summed. For a system without inputs these are its own."""

    inputs: tuple[str, ...] | None
    """Every system it reads, transitively (each once); None when one is not in the results."""
    wall_ms: tuple[float, ...] | None
    """Per-query times including the inputs' (ms), in the cell's query order; None when an
    input has no times or timed other queries."""
    cpu_ms: tuple[float, ...] | None
    own: LatencyStats
    """The cell's own stored statistics (used as is for a system without inputs)."""
    own_cpu: LatencyStats
    qps: float | None

    @property
    def complete(self) -> bool:
        return self.inputs is not None and self.wall_ms is not None

    def samples(self, clock: Clock = "wall") -> tuple[float, ...] | None:
        return self.cpu_ms if clock == "cpu" else self.wall_ms

    def stats(self, clock: Clock = "wall") -> LatencyStats:
        """Statistics of the end-to-end samples (empty when incomplete)."""
        if self.inputs == ():
            return self.own_cpu if clock == "cpu" else self.own
        samples = self.samples(clock)
        return LatencyStats.of(samples) if samples else LatencyStats()


def input_cells(cell: Cell, by_name: Mapping[str, Cell], bases: Mapping[str, list[str]]) -> list[Cell] | None:
    """Every cell `cell` reads, transitively (each once), or None if one is not in the results."""
    out: dict[str, Cell] = {}
    todo = list(cell.timing.depends_on) if cell.timing else []
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
        todo.extend(target.timing.depends_on if target.timing else ())
    return list(out.values())


def _summed(own: Timing, inputs: Sequence[Cell], clock: Clock, scope: LatencyScope) -> tuple[float, ...] | None:
    total = list(own.samples(clock, scope))
    if not total:
        return None
    for dep in inputs:
        t = dep.timing
        if t is None or t.query_ids != own.query_ids or len(t.samples(clock, scope)) != len(total):
            return None
        total = [a + b for a, b in zip(total, t.samples(clock, scope), strict=True)]
    return tuple(total)


def _qps(own: Timing, inputs: Sequence[Cell]) -> float | None:
    seconds = own.batch.seconds
    for dep in inputs:
        if dep.timing is None:
            return None
        seconds += dep.timing.batch.seconds
    return own.batch.queries / seconds if seconds > 0 else None


def end_to_end(results: ResultSet, cells: Sequence[Cell], scope: LatencyScope = "end-to-end") -> dict[str, EndToEnd]:
    """For each cell of one dataset (that has timings): its end-to-end cost in `scope`."""
    by_name = {c.system: c for c in cells}
    bases: dict[str, list[str]] = {}
    for c in cells:
        info = results.systems.get(c.system)
        bases.setdefault(info.base if info is not None else c.system, []).append(c.system)
    out: dict[str, EndToEnd] = {}
    for c in cells:
        t = c.timing
        if t is None:
            continue
        inputs = input_cells(c, by_name, bases)
        own, own_cpu = t.stats("wall", scope), t.stats("cpu", scope)
        if inputs is None:
            out[c.system] = EndToEnd(None, None, None, own, own_cpu, None)
        elif not inputs:
            wall, cpu = t.samples("wall", scope) or None, t.samples("cpu", scope) or None
            out[c.system] = EndToEnd((), wall, cpu, own, own_cpu, t.batch.qps)
        else:
            wall = _summed(t, inputs, "wall", scope)
            qps = _qps(t, inputs) if wall is not None else None
            names = tuple(d.system for d in inputs)
            out[c.system] = EndToEnd(names, wall, _summed(t, inputs, "cpu", scope), own, own_cpu, qps)
    return out


def pipeline_percentiles(
    results: ResultSet, dataset: str, clock: Clock = "wall", scope: LatencyScope = "end-to-end"
) -> dict[str, dict[str, float]]:
    """{system: {"p50": ms, "p95": ms}} for the cells of `dataset` with per-query times.

    A system that reads other systems' runs (fusion, `use`) is timed end to end, its inputs'
    times added query by query, as the report shows it; its own stages alone would make a
    fusion look nearly free."""
    cells = [c for c in results.cells if c.dataset == dataset]
    out: dict[str, dict[str, float]] = {}
    for system, e2e in end_to_end(results, cells, scope).items():
        stats = e2e.stats(clock)
        lat = {p: stats.get(p) for p in PERCENTILES}
        if all(v is not None and math.isfinite(v) and v > 0 for v in lat.values()):
            out[system] = {p: float(v) for p, v in lat.items() if v is not None}
    return out


def latency_ratios(
    results: ResultSet, dataset: str, reference: str, clock: Clock = "wall", scope: LatencyScope = "end-to-end"
) -> dict[str, dict[str, float]]:
    """{system: {"p50": ms, "p95": ms, "p50_ratio": r, "p95_ratio": r}} for every system of
    `dataset` with latency, when the reference system has latency too; else {}."""
    lat = pipeline_percentiles(results, dataset, clock, scope)
    ref = lat.get(reference)
    if ref is None:
        return {}
    return {s: {**v, **{f"{p}_ratio": v[p] / ref[p] for p in PERCENTILES}} for s, v in lat.items()}


def default_reference(results: ResultSet) -> str | None:
    """The latency reference: the spec's gate.latency.reference, else the baseline system."""
    ref = results.settings.gate.latency.reference
    return results.resolve_system(ref, "gate.latency.reference names") if ref is not None else results.baseline_system()
