"""Every system against a baseline system, per dataset x measure: the `comparisons` of results.json.

The spec's `compare:` section configures it (all keys optional; harness.sections.CompareConfig
parses it when the spec loads):

    compare:
      baseline: bm25                 # default: the first system of the spec
      measures: [nDCG@10]            # default: every measure of the experiment
      tests: [t, wilcoxon, randomisation]
      primary: t                     # the test whose corrected p decides 'significant'
      correction: holm               # holm | bonferroni | bh | none
      family: dataset-measure        # correct within each dataset x measure, or across 'all'
      alpha: 0.05
      bootstrap: {resamples: 2000, confidence: 0.95, seed: 0}
      randomisation: {resamples: 10000, seed: 0}

Everything stored is plain JSON (numbers, strings, lists, dicts); renderers only read it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.errors import SpecError
from harness.results import Cell, ResultSet
from harness.sections import CompareConfig
from harness.tables import render_table


def aligned(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[list[str], list[float], list[float]]:
    """Per-query values of two cells on the queries both hold, in a stable order."""
    qids = sorted(set(a) & set(b))
    return qids, [float(a[q]) for q in qids], [float(b[q]) for q in qids]


def _num(x: float) -> float | None:
    """JSON has no NaN or infinity: store those as null."""
    return x if math.isfinite(x) else None


def _interval(c: Cell, ds: str, m: str, config: CompareConfig) -> dict[str, Any]:
    from harness.evaluation import stats

    bs = config.bootstrap
    values = [float(v) for v in c.per_query[m].values()]
    ci = stats.bootstrap_mean_ci(values, n_resamples=bs.resamples, confidence=bs.confidence, seed=bs.seed)
    return {
        "dataset": ds,
        "system": c.system,
        "measure": m,
        "n": len(values),
        "mean": sum(values) / len(values),
        "ci": [ci.low, ci.high],
    }


def _row(c: Cell, bcell: Cell, ds: str, m: str, config: CompareConfig) -> dict[str, Any] | None:
    """One system against the baseline on one dataset x measure (None: under 2 paired queries)."""
    from harness.evaluation import stats

    qids, x, y = aligned(c.per_query[m], bcell.per_query[m])
    if len(qids) < 2:
        return None
    tests: dict[str, dict[str, float | None]] = {}
    for t in config.tests:
        if t == "t":
            r = stats.paired_t(x, y)
        elif t == "wilcoxon":
            r = stats.wilcoxon(x, y)
        else:
            rc = config.randomisation
            r = stats.randomisation(x, y, n_resamples=rc.resamples, seed=rc.seed)
        tests[t] = {"statistic": _num(r.statistic), "p": r.pvalue}
    bs = config.bootstrap
    dci = stats.bootstrap_diff_ci(x, y, n_resamples=bs.resamples, confidence=bs.confidence, seed=bs.seed)
    counts = stats.win_loss(x, y)
    mean_x, mean_y = sum(x) / len(x), sum(y) / len(y)
    return {
        "dataset": ds,
        "measure": m,
        "system": c.system,
        "baseline": bcell.system,
        "n": len(qids),
        "mean": mean_x,
        "baseline_mean": mean_y,
        "delta": mean_x - mean_y,
        "delta_ci": [dci.low, dci.high],
        "tests": tests,
        "effect_size": {"cohens_d": _num(stats.cohens_d(x, y))},
        "improved": counts.improved,
        "degraded": counts.degraded,
        "unchanged": counts.unchanged,
    }


def _correct(rows: list[dict[str, Any]], config: CompareConfig) -> None:
    """Each test's p-values corrected within its family; the primary test decides significance."""
    from harness.evaluation import stats

    for t in config.tests:
        families: dict[tuple[str, ...], list[int]] = {}
        for i, row in enumerate(rows):
            key = (row["dataset"], row["measure"]) if config.family == "dataset-measure" else ()
            families.setdefault(key, []).append(i)
        for members in families.values():
            adjusted = stats.adjust([rows[i]["tests"][t]["p"] for i in members], config.correction)
            for i, p in zip(members, adjusted, strict=True):
                rows[i]["tests"][t]["p_adjusted"] = p
    for row in rows:
        p = row["tests"][config.primary]["p_adjusted"]
        sig = p < config.alpha
        row["significant"] = sig
        row["direction"] = ("better" if row["delta"] > 0 else "worse") if sig else "none"


def _measures(results: ResultSet, config: CompareConfig) -> list[str]:
    """The measures to compare, all present in the results."""
    measures = config.measures or list(results.measures)
    unknown = [m for m in measures if m not in results.measures]
    if unknown:
        raise SpecError(
            f"compare.measures names {unknown}, which the experiment does not compute",
            hint="measures: " + ", ".join(results.measures),
        )
    return measures


def compare(results: ResultSet, config: CompareConfig) -> dict[str, Any]:
    """Build the `comparisons` mapping of results.json."""
    base = results.baseline_system(config.baseline)
    if base is None:
        return {}
    measures = _measures(results, config)
    intervals: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for ds in dict.fromkeys(c.dataset for c in results.cells):
        cells = [c for c in results.cells if c.dataset == ds]
        bcell = results.cell(ds, base)
        for m in measures:
            intervals.extend(_interval(c, ds, m, config) for c in cells if len(c.per_query.get(m, {})) >= 2)
            if bcell is None or m not in bcell.per_query:
                continue
            for c in cells:
                if c.system != base and m in c.per_query:
                    row = _row(c, bcell, ds, m, config)
                    if row is not None:
                        rows.append(row)
    _correct(rows, config)
    return {
        "config": config.model_dump(mode="json"),
        "baseline": base,
        "alpha": config.alpha,
        "primary": config.primary,
        "correction": config.correction,
        "family": config.family,
        "intervals": intervals,
        "results": rows,
    }


def attach_comparisons(results: ResultSet, config: CompareConfig) -> ResultSet:
    """The ResultSet with its `comparisons` filled as the spec's `compare:` section says."""
    if not config.enabled or len(results.systems) < 1:
        return results
    return results.model_copy(update={"comparisons": compare(results, config)})


def _marker(row: Mapping[str, Any]) -> str:
    if not row.get("significant"):
        return " "
    return "▲" if row.get("direction") == "better" else "▼"


def _whisker(low: float, mean: float, high: float, lo_axis: float, hi_axis: float, width: int = 24) -> str:
    """A text interval: |---o---| placed on a shared axis."""
    span = hi_axis - lo_axis or 1.0

    def pos(v: float) -> int:
        return max(0, min(width - 1, round((v - lo_axis) / span * (width - 1))))

    cells = [" "] * width
    a, b, c = pos(low), pos(mean), pos(high)
    for i in range(a, c + 1):
        cells[i] = "-"
    cells[a] = "|" if a != c else cells[a]
    cells[c] = "|"
    cells[b] = "o"
    return "".join(cells)


_COMPARISON_HEADER = ("system", "mean [interval]", "interval on the axis", "", "Δ", "Δ interval", "p", "p_adj", "+/-/=")


def _comparison_row(
    iv: Mapping[str, Any], row: Mapping[str, Any] | None, base: str, primary: str, lo_axis: float, hi_axis: float
) -> list[str]:
    """One system's cells: mean and interval, the whisker, then (not for the baseline) the test."""
    cells = [
        iv["system"],
        f"{iv['mean']:.4f} [{iv['ci'][0]:.4f}, {iv['ci'][1]:.4f}]",
        _whisker(iv["ci"][0], iv["mean"], iv["ci"][1], lo_axis, hi_axis),
    ]
    if iv["system"] == base:
        return [*cells, "", "(baseline)", "", "", "", ""]
    if row is None:
        return [*cells, "", "", "", "", "", ""]
    t = row["tests"][primary]
    return [
        *cells,
        _marker(row),
        f"{row['delta']:+.4f}",
        f"[{row['delta_ci'][0]:+.4f}, {row['delta_ci'][1]:+.4f}]",
        f"{t['p']:.2g}",
        f"{t['p_adjusted']:.2g}",
        f"+{row['improved']}/-{row['degraded']}/={row['unchanged']}",
    ]


def format_comparisons(comparisons: Mapping[str, Any]) -> str:
    """A plain-text report: per dataset x measure, each system's mean with its bootstrap interval
    drawn as a whisker, and its difference from the baseline with the primary test's corrected p.
    ▲ / ▼ mark systems significantly better / worse than the baseline."""
    if not comparisons or not comparisons.get("intervals"):
        return "no comparisons (results.json has none; run with a compare: section or at least two systems)"
    base = comparisons["baseline"]
    primary = comparisons["primary"]
    alpha = comparisons["alpha"]
    by_key: dict[tuple[str, str, str], Mapping[str, Any]] = {
        (r["dataset"], r["measure"], r["system"]): r for r in comparisons["results"]
    }
    conf = comparisons.get("config", {}).get("bootstrap", {}).get("confidence", 0.95)
    lines = [
        f"baseline: {base}; {primary} test, {comparisons['correction']}-corrected "
        f"({comparisons['family']}), alpha {alpha}; intervals: {conf:.0%} percentile bootstrap",
        "▲ significantly better than the baseline, ▼ significantly worse",
    ]
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for iv in comparisons["intervals"]:
        groups.setdefault((iv["dataset"], iv["measure"]), []).append(iv)
    for (ds, m), ivs in groups.items():
        lo_axis = min(iv["ci"][0] for iv in ivs)
        hi_axis = max(iv["ci"][1] for iv in ivs)
        lines.append("")
        lines.append(f"{ds} / {m}  (axis {lo_axis:.3f} .. {hi_axis:.3f})")
        rows = [_comparison_row(iv, by_key.get((ds, m, iv["system"])), base, primary, lo_axis, hi_axis) for iv in ivs]
        lines.append(render_table(_COMPARISON_HEADER, rows, align="llllllrrr", indent=2))
    return "\n".join(lines)
