"""What the report shows: its measure, latency statistic and baseline, checked against the results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import EvalError
from harness.names import did_you_mean
from harness.results import ResultSet
from harness.sections import SCOPES, STATISTICS, LatencyScope


@dataclass(frozen=True)
class ReportOptions:
    measure: str | None = None
    """Measure on the y axis of the trade-off plots and of win/loss (default nDCG@10)."""
    latency_stat: str = "p50"
    """Latency statistic on the x axis: mean, p50, p90, p95, p99 or max."""
    baseline: str | None = None
    """System the per-query win/loss compares against (default: the spec's compare.baseline,
    else the first system)."""
    scope: str = "end-to-end"
    """What the latencies cover: end-to-end, or search-only (without query encoding)."""


def report_options(results: ResultSet, **overrides: str | None) -> ReportOptions:
    """Options from the experiment's typed `report:` settings, then overrides (command line)."""
    cfg = results.settings.report
    values: dict[str, Any] = {
        "measure": cfg.measure,
        "latency_stat": cfg.latency,
        "baseline": cfg.baseline,
        "scope": cfg.scope,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ReportOptions(**values)


def resolve_measure(results: ResultSet, wanted: str | None) -> str:
    """`wanted`, else nDCG@10, else the first measure; an error names the measures there are."""
    if not results.measures:
        raise EvalError("the results hold no measures", hint="re-run the experiment")
    if wanted is None:
        return "nDCG@10" if "nDCG@10" in results.measures else results.measures[0]
    if wanted not in results.measures:
        raise EvalError(
            f"measure '{wanted}' is not in the results",
            hint=f"{did_you_mean(wanted, results.measures)}measures: {', '.join(results.measures)}",
        )
    return wanted


def resolve_scope(scope: str) -> LatencyScope:
    for known in SCOPES:
        if scope == known:
            return known
    raise EvalError(f"unknown latency scope '{scope}'", hint=f"use one of {', '.join(SCOPES)}")


def resolve_latency_stat(stat: str) -> str:
    if stat not in STATISTICS:
        raise EvalError(f"unknown latency statistic '{stat}'", hint=f"use one of {', '.join(STATISTICS)}")
    return stat
