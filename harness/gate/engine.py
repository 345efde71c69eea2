"""`run_gate`: every check of a results.json against a snapshot, in a stable order."""

from __future__ import annotations

from dataclasses import replace

from harness.errors import GateError
from harness.gate.checks import (
    Comparison,
    compare_measure,
    dataset_check,
    effectiveness_checks,
    exact_check,
    missing_cell_check,
    new_cell_checks,
)
from harness.gate.latency_checks import latency_checks
from harness.gate.outcome import Check, GateReport
from harness.gate.snapshot import Snapshot
from harness.latency import pipeline_percentiles
from harness.results import ResultSet
from harness.sections import GateRules

_KIND_ORDER = {"dataset": 0, "cell": 1, "exact": 2, "effectiveness": 3, "latency": 4}


def check_rules_fit(snapshot: Snapshot, rules: GateRules) -> None:
    """Rules that name what the snapshot does not hold are typos: refuse them rather than gate
    nothing."""
    systems = snapshot.system_names
    for name in rules.exact:
        if name not in systems:
            raise GateError(
                f"gate.exact names system '{name}', which the snapshot does not hold",
                hint="snapshot systems: " + ", ".join(sorted(systems)),
            )
    measures = snapshot.measures
    for threshold in (rules.max_drop, rules.margin):
        for m in threshold if isinstance(threshold, dict) else ():
            if m != "default" and m not in measures:
                raise GateError(
                    f"a gate threshold names measure '{m}', which the snapshot does not hold",
                    hint="snapshot measures: " + ", ".join(sorted(measures)),
                )
    ref, wanted = snapshot.reference, rules.latency.reference
    if wanted is not None and ref is not None and wanted != ref:
        raise GateError(
            f"gate.latency.reference is '{wanted}' but the snapshot's ratios are to '{ref}'",
            hint="use the snapshot's reference system, or re-save the snapshot with --reference",
        )


def _noisy_systems(results: ResultSet, dataset: str) -> set[str]:
    """Systems of `dataset` whose every per-query timing pass was disturbed (Timing.noise)."""
    return {
        c.system
        for c in results.cells
        if c.dataset == dataset and c.timing is not None and c.timing.noise is not None and c.timing.noise.noisy
    }


def _noted(checks: list[Check], noisy: list[str]) -> list[Check]:
    """Latency verdicts that rest on timings of a busy machine say so (the verdict stands)."""
    if not noisy:
        return checks
    note = f" [timed on a busy machine: {', '.join(noisy)} noisy]"
    return [replace(c, message=c.message + note) for c in checks]


def run_gate(results: ResultSet, snapshot: Snapshot, rules: GateRules) -> GateReport:
    """Every check of the gate: per snapshot dataset, then per recorded system, in file order."""
    check_rules_fit(snapshot, rules)
    checks: list[Check] = []
    comparisons: list[Comparison] = []
    for ds, fingerprint in snapshot.fingerprints.items():
        ds_check = dataset_check(ds, fingerprint, results.datasets.get(ds))
        checks.append(ds_check)
        if ds_check.verdict == "FAIL":
            continue  # another dataset's per-query values cannot be compared
        recorded = snapshot.systems.get(ds, {})
        now = pipeline_percentiles(results, ds, rules.latency.clock, rules.latency.scope)
        noisy = _noisy_systems(results, ds)
        for system, entry in recorded.items():
            cell = results.cell(ds, system)
            if cell is None:
                checks.append(missing_cell_check(ds, system))
                continue
            if system in rules.exact:
                checks.append(exact_check(ds, system, entry, cell))
            comparisons.extend(compare_measure(ds, system, m, v, cell, rules) for m, v in entry.measures.items())
            timed = latency_checks(ds, system, entry, now, snapshot.reference, rules.latency)
            checks.extend(_noted(timed, [s for s in (system, snapshot.reference) if s in noisy]))
        checks.extend(new_cell_checks(results, ds, recorded))
    checks.extend(effectiveness_checks(comparisons, rules))
    ds_order = {d: i for i, d in enumerate(snapshot.fingerprints)}
    checks.sort(key=lambda c: (ds_order.get(c.dataset, len(ds_order)), _KIND_ORDER.get(c.kind, len(_KIND_ORDER))))
    return GateReport(checks=tuple(checks), rules=rules, snapshot_path=str(snapshot.path))
