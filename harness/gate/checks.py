"""Dataset, cell, exact and effectiveness checks of one results.json against a snapshot.

Effectiveness is checked in two steps: `compare_measure` measures each cell's drop and runs its
non-inferiority test; `effectiveness_checks` then corrects every test's p-value together (the
family is the whole gate) and gives the verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.evaluation import stats
from harness.gate.outcome import Check, Verdict
from harness.gate.snapshot import MeasureValues, SnapshotCell
from harness.results import Cell, ResultSet
from harness.sections import GateRules

EXACT_TOL = 1e-12
"""Per-query values closer than this are equal (they went through JSON as floats)."""
_SLACK = 1e-12
"""A drop equal to max_drop up to float rounding passes."""


def _short(sha: object) -> str:
    return f"{str(sha)[:12]}…" if sha else "none"


def dataset_check(name: str, fingerprint: str | None, summary: Mapping[str, object] | None) -> Check:
    """The dataset is in the results with the snapshot's content fingerprint."""
    if summary is None:
        return Check("dataset", name, "", "", "FAIL", f"dataset '{name}' is in the snapshot but not in the results")
    now = summary.get("fingerprint")
    if now != fingerprint:
        return Check(
            "dataset",
            name,
            "",
            "",
            "FAIL",
            f"dataset '{name}' changed: fingerprint {str(now)[:12]} differs from the snapshot's "
            f"{str(fingerprint)[:12]} (different documents, queries, judgments or subset); "
            "re-save the snapshot (`harness snapshot save`) if the change is intended",
        )
    return Check("dataset", name, "", "", "PASS", f"fingerprint {str(now)[:12]} matches")


def missing_cell_check(dataset: str, system: str) -> Check:
    return Check(
        "cell",
        dataset,
        system,
        "",
        "FAIL",
        f"system '{system}' on dataset '{dataset}' is in the snapshot but not in the results",
    )


def new_cell_checks(results: ResultSet, dataset: str, recorded: Mapping[str, SnapshotCell]) -> list[Check]:
    """Systems the snapshot does not know are reported, never failed: adding one is no regression."""
    return [
        Check("cell", dataset, c.system, "", "SKIP", "new system, not in the snapshot: not gated")
        for c in results.cells
        if c.dataset == dataset and c.system not in recorded
    ]


def _differing_values(entry: SnapshotCell, per_query: Mapping[str, Mapping[str, float]]) -> list[str]:
    out: list[str] = []
    for m, recorded in entry.measures.items():
        now = per_query.get(m, {})
        for q, v in recorded.per_query.items():
            if q not in now or abs(float(now[q]) - v) > EXACT_TOL:
                out.append(f"{m} {q}")
    return out


def exact_check(dataset: str, system: str, entry: SnapshotCell, cell: Cell) -> Check:
    """A system marked exact must write the very same run file. Equal per-query values do not
    excuse a changed file (a reordering below the measured depth, or a changed score, changes
    what downstream consumers of the run see); they only tell where to look."""
    if entry.run_sha256 == cell.run_sha256:
        return Check("exact", dataset, system, "", "PASS", "run file identical (sha256 matches)")
    differing = _differing_values(entry, cell.per_query)
    values = (
        f"{len(differing)} per-query values differ (first: {differing[0]})" if differing else "per-query values match"
    )
    return Check(
        "exact",
        dataset,
        system,
        "",
        "FAIL",
        f"marked exact, but the run file changed (sha256 {_short(cell.run_sha256)} != "
        f"snapshot's {_short(entry.run_sha256)}); {values}",
    )


@dataclass(frozen=True)
class Comparison:
    """One effectiveness check before the gate-wide correction of its non-inferiority test."""

    dataset: str
    system: str
    measure: str
    snapshot: float
    new: float | None
    """None: the measure is not in the results."""
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    ci: tuple[float, float] | None = None
    margin: float | None = None
    """The non-inferiority margin, when the test ran."""
    p_raw: float | None = None


def compare_measure(
    dataset: str, system: str, measure: str, old: MeasureValues, cell: Cell, rules: GateRules
) -> Comparison:
    """The measure's drop against max_drop, and its uncorrected non-inferiority test."""
    if measure not in cell.aggregate or measure not in cell.per_query:
        problem = f"measure '{measure}' is in the snapshot but not in the results"
        return Comparison(dataset, system, measure, old.aggregate, None, problems=(problem,))
    new_agg, new_pq = float(cell.aggregate[measure]), cell.per_query[measure]
    qids = sorted(set(old.per_query) & set(new_pq))
    missing = sorted(set(old.per_query) - set(new_pq))
    x = [float(new_pq[q]) for q in qids]
    y = [old.per_query[q] for q in qids]
    problems: list[str] = []
    notes: list[str] = []
    if missing:
        problems.append(f"{len(missing)} snapshot queries have no value in the results (first: {missing[0]})")
    ci = None
    if len(qids) >= 2:
        interval = stats.bootstrap_diff_ci(x, y, n_resamples=rules.bootstrap_resamples, seed=rules.seed)
        ci = (interval.low, interval.high)
    max_drop = rules.threshold("max_drop", measure)
    if max_drop is not None:
        drop = old.aggregate - new_agg
        if drop > max_drop + _SLACK:
            problems.append(f"dropped {drop:.4f} > max_drop {max_drop:g}")
        else:
            notes.append(f"drop {max(drop, 0.0):.4f} <= {max_drop:g}")
    margin = rules.threshold("margin", measure)
    p_raw = None
    if margin is not None and len(qids) >= 2:
        # H0: new <= snapshot - margin; rejecting it shows the new values are not worse by margin.
        p_raw = stats.paired_t(x, y, alternative="greater", margin=margin).pvalue
    elif margin is not None:
        problems.append("fewer than 2 paired queries: the non-inferiority test cannot run")
    return Comparison(
        dataset,
        system,
        measure,
        old.aggregate,
        new_agg,
        problems=tuple(problems),
        notes=tuple(notes),
        ci=ci,
        margin=margin if p_raw is not None else None,
        p_raw=p_raw,
    )


def effectiveness_checks(comparisons: Sequence[Comparison], rules: GateRules) -> list[Check]:
    """Verdicts once every non-inferiority p-value of the gate is corrected as one family."""
    raw = [c.p_raw for c in comparisons if c.p_raw is not None]
    adjusted = iter(stats.adjust(raw, rules.correction) if raw else [])
    out: list[Check] = []
    for c in comparisons:
        problems, notes = list(c.problems), list(c.notes)
        p = next(adjusted) if c.p_raw is not None else None
        if p is not None:
            label = f"non-inferiority (margin {c.margin:g}) p={p:.3g}"
            if p >= rules.alpha:
                problems.append(f"{label} >= alpha {rules.alpha:g} ({rules.correction}-corrected)")
            else:
                notes.append(f"{label} < {rules.alpha:g}")
        verdict: Verdict = "FAIL" if problems else "PASS"
        message = "; ".join(problems or notes) or "no threshold set: presence checked only"
        delta = None if c.new is None else c.new - c.snapshot
        out.append(
            Check(
                "effectiveness",
                c.dataset,
                c.system,
                c.measure,
                verdict,
                message,
                snapshot=c.snapshot,
                new=c.new,
                delta=delta,
                ci=c.ci,
                p=p,
            )
        )
    return out
