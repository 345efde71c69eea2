"""End-to-end per-query times of systems that read other systems' runs (fusion, `use`).

A fused system's own cell times only its own stages; a service that answers with it runs its
inputs first. Its end-to-end time per query is therefore its own sample plus every input's
sample for the same query (inputs of inputs included, each once). The report and the gate both
read latency through here, so that they agree on what a system costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.results import Cell, ResultSet

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
