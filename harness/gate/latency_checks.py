"""Latency checks: each system's p50/p95 as a ratio to the reference system of the same run.

Absolute times move with the machine and whatever else runs on it; the ratio of two systems
measured in one run does not. A ratio may grow by `max_growth`, or by any amount that costs
less than `min_delta_ms` per query at the reference's current speed (a noise floor: a 0.01 ms
stage doubling is no regression).
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.gate.outcome import Check, Verdict
from harness.gate.snapshot import SnapshotCell
from harness.sections import GatedPercentile, LatencyRule

_SLACK = 1e-12


def _whole_cell(dataset: str, system: str, verdict: Verdict, message: str) -> list[Check]:
    return [Check("latency", dataset, system, "", verdict, message)]


def _unrecorded(
    dataset: str, system: str, entry: SnapshotCell, rule: LatencyRule, measured: bool, what: str
) -> list[Check]:
    """The snapshot holds no ratios for this clock and scope."""
    # a snapshot from an older version: it has wall-clock end-to-end ratios, not the ones asked for
    older = [
        (rule.scope == "search-only", "scope is search-only", "end-to-end", "scope: end-to-end"),
        (rule.clock == "cpu", "clock is cpu", "wall-clock", "clock: wall"),
    ]
    for asked, what_rule, held, fix in older:
        if asked and entry.latency is not None:
            message = (
                f"gate.latency.{what_rule} but the snapshot holds {held} ratios only: re-save it "
                f"with `harness snapshot save` from a run of this version, or set {fix}"
            )
            return _whole_cell(dataset, system, "FAIL", message)
    if not measured:
        return _whole_cell(dataset, system, "SKIP", f"no {what} recorded (neither in the snapshot nor now)")
    return _whole_cell(dataset, system, "SKIP", f"no {what} in the snapshot: not gated")


def _percentile_check(
    dataset: str,
    system: str,
    percentile: GatedPercentile,
    old_ratio: float | None,
    new: Mapping[str, float],
    new_ref: Mapping[str, float],
    reference: str,
    rule: LatencyRule,
) -> Check:
    label = f"cpu {percentile}" if rule.clock == "cpu" else percentile
    label += " search-only" if rule.scope == "search-only" else ""
    if old_ratio is None or old_ratio <= 0:
        return Check("latency", dataset, system, label, "FAIL", f"snapshot has no {label} ratio to '{reference}'")
    ratio = new[percentile] / new_ref[percentile]
    growth = ratio / old_ratio - 1.0
    added_ms = (ratio - old_ratio) * new_ref[percentile]
    within = growth <= rule.max_growth + _SLACK
    ok = within or added_ms < rule.min_delta_ms
    if growth >= 0:
        bound = f"{'<=' if within else '>'} allowed {rule.max_growth:.0%}"
        why = f"{label} ratio to '{reference}' grew {growth:.1%} ({bound})"
    else:
        why = f"{label} ratio to '{reference}' fell {-growth:.1%} (growth allowed up to {rule.max_growth:.0%})"
    if not within:
        why += f", {added_ms:+.3g} ms per query ({'<' if ok else '>='} noise floor {rule.min_delta_ms:g} ms)"
    verdict: Verdict = "PASS" if ok else "FAIL"
    return Check(
        "latency", dataset, system, label, verdict, why, snapshot=old_ratio, new=ratio, delta=ratio - old_ratio
    )


def latency_checks(
    dataset: str,
    system: str,
    entry: SnapshotCell,
    now: Mapping[str, Mapping[str, float]],
    reference: str | None,
    rule: LatencyRule,
) -> list[Check]:
    """`now`: this run's end-to-end percentiles per system of `dataset` (pipeline_percentiles);
    `reference`: the system the snapshot's ratios are relative to (none: nothing to gate)."""
    if reference is None or system == reference:
        return []
    what = "CPU time" if rule.clock == "cpu" else "latency"
    old = entry.ratios(rule.clock, rule.scope)
    new, new_ref = now.get(system), now.get(reference)
    if old is None:
        return _unrecorded(dataset, system, entry, rule, new is not None, what)
    if new is None or new_ref is None:
        who = f"system '{system}'" if new is None else f"reference system '{reference}'"
        return _whole_cell(
            dataset,
            system,
            "FAIL",
            f"no {what} recorded for {who} on '{dataset}', but the snapshot has {what} for '{system}'",
        )
    return [
        _percentile_check(dataset, system, p, old.get(f"{p}_ratio"), new, new_ref, reference, rule)
        for p in rule.percentiles
    ]
