"""The regression gate: a results.json against a committed snapshot, check by check.

A snapshot (`harness snapshot save`) freezes what a run measured; "baseline" elsewhere in the
harness means the system others are compared with, never this file.

Rules come from the spec's `gate:` section (harness.sections.GateRules, also stored with the
results) and from the command line (which wins, through `merge_rules`). All keys are optional:

    gate:
      snapshot: experiments/snapshots/ci-gate.json
      max_drop: 0.01               # largest allowed drop of an aggregate; or per measure:
                                   #   {nDCG@10: 0.005, default: 0.01}; null turns it off
      margin: 0.01                 # non-inferiority margin (same forms as max_drop)
      alpha: 0.05                  # for the non-inferiority tests
      correction: holm             # across every non-inferiority test of the gate
      exact: [bm25]                # deterministic systems: the run file's sha256 must match
      latency: {reference: bm25, max_growth: 0.5, percentiles: [p50], clock: cpu, min_delta_ms: 1.0}

Checks, each with a verdict PASS / FAIL / SKIP (SKIP never fails the gate):
- dataset: present in the results, same content fingerprint;
- cell: every snapshot dataset x system is present;
- exact: for systems marked exact, an identical run file (the message says whether the
  per-query values still match, to tell a reordering from a regression);
- effectiveness: per measure, aggregate drop <= max_drop, and the one-sided paired t-test of
  H0 "new <= snapshot - margin" rejected at alpha after correction; a measure in the snapshot
  but not in the results fails;
- latency: p50 (and/or p95) as a ratio to the reference system of the same run, end to end
  (a fusion includes its inputs), growth <= max_growth or an absolute change below the
  min_delta_ms noise floor; latency in the snapshot but not in the results fails; none in
  either is a SKIP. `clock: cpu` (the default) compares per-query CPU time: on shared CI
  machines the wall-time ratio of two cells follows whatever else ran during each cell, the
  CPU-time ratio does not. `clock: wall` is for dedicated machines.

The gate reads results only: results.json, the latency analysis, the statistics and the rules.
"""

from __future__ import annotations

from harness.gate.engine import run_gate
from harness.gate.outcome import Check, GateReport, Verdict
from harness.gate.render import format_junit, format_markdown, format_table, report_to_dict
from harness.gate.rules import merge_rules
from harness.gate.snapshot import (
    SNAPSHOT_FORMAT,
    SNAPSHOT_VERSION,
    MeasureValues,
    Snapshot,
    SnapshotCell,
    build_snapshot,
    load_snapshot,
    save_snapshot,
)

__all__ = [
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_VERSION",
    "Check",
    "GateReport",
    "MeasureValues",
    "Snapshot",
    "SnapshotCell",
    "Verdict",
    "build_snapshot",
    "format_junit",
    "format_markdown",
    "format_table",
    "load_snapshot",
    "merge_rules",
    "report_to_dict",
    "run_gate",
    "save_snapshot",
]
