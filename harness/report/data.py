"""The report's data: every table, point and curve, computed from a ResultSet alone.

Rendering (HTML, Markdown, plots) only formats what `build` returns. Values stay raw
numbers here; formatting helpers live at the bottom and are shared by the renderers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import EvalError
from harness.latency import EndToEnd, end_to_end
from harness.pareto import pareto_front
from harness.plugins import did_you_mean
from harness.results import Cell, ResultSet, SystemInfo
from harness.sections import STATISTICS
from harness.timing import LatencyStats

TIE_EPS = 1e-9
"""Per-query differences at most this large count as ties in win/loss counts."""


@dataclass(frozen=True)
class ReportOptions:
    measure: str | None = None
    """Measure on the y axis of the trade-off plots and of win/loss (default nDCG@10)."""
    latency_stat: str = "p50"
    """Latency statistic on the x axis: mean, p50, p90, p95, p99 or max."""
    baseline: str | None = None
    """System the per-query win/loss compares against (default: the spec's compare.baseline,
    else the first system)."""


def report_options(results: ResultSet, **overrides: str | None) -> ReportOptions:
    """Options from the experiment's typed `report:` settings, then overrides (command line)."""
    cfg = results.settings.report
    values: dict[str, Any] = {"measure": cfg.measure, "latency_stat": cfg.latency, "baseline": cfg.baseline}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ReportOptions(**values)


@dataclass
class Point:
    system: str
    base: str
    label: str
    x: float | None
    y: float
    on_front: bool = False


@dataclass
class Curve:
    """Variants of one swept system along its last swept parameter (the others held fixed)."""

    base: str
    parameters: list[str]
    points: list[Point]
    label: str = ""


@dataclass
class WinLoss:
    system: str
    wins: int
    ties: int
    losses: int
    mean_delta: float
    best: list[tuple[str, float]]
    worst: list[tuple[str, float]]


@dataclass
class DatasetView:
    name: str
    info: Mapping[str, Any]
    cells: list[Cell]
    best: dict[str, float]
    points: list[Point]
    curves: list[Curve]
    unplotted: list[str]
    winloss: list[WinLoss]
    baseline: str | None
    latency_rows: list[dict[str, Any]]
    cost_rows: list[dict[str, Any]]
    significance: list[dict[str, Any]] = field(default_factory=list)
    """Rows of results.json `comparisons` for this dataset (harness.compare), if any."""
    markers: dict[tuple[str, str], str] = field(default_factory=dict)
    """(system, measure) -> '▲' / '▼' where significantly better / worse than the baseline."""


@dataclass
class ReportView:
    experiment: str
    measures: list[str]
    measure: str
    stat: str
    datasets: list[DatasetView]
    summary: list[dict[str, Any]]
    manifest: list[tuple[str, str]]
    spec_json: str
    environments: list[dict[str, Any]]
    systems: Mapping[str, SystemInfo] = field(default_factory=dict)


def _resolve_measure(results: ResultSet, wanted: str | None) -> str:
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


def _resolve_stat(stat: str) -> str:
    if stat not in STATISTICS:
        raise EvalError(f"unknown latency statistic '{stat}'", hint=f"use one of {', '.join(STATISTICS)}")
    return stat


def _fmt_value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _sweep_label(sweep: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in sweep.items())


def _sort_key(v: Any) -> tuple[int, float, str]:
    if isinstance(v, bool):
        return (1, float(v), "")
    if isinstance(v, (int, float)):
        return (0, float(v), "")
    return (2, 0.0, json.dumps(v, sort_keys=True, default=str))


def _points(
    results: ResultSet, cells: list[Cell], measure: str, stat: str, e2e: Mapping[str, EndToEnd]
) -> tuple[list[Point], list[Curve], list[str]]:
    points: list[Point] = []
    unplotted: list[str] = []
    for c in cells:
        info = results.systems.get(c.system)
        base = info.base if info is not None else c.system
        sweep = info.sweep if info is not None else {}
        x = e2e[c.system].stats().get(stat) if c.system in e2e else None
        y = float(c.aggregate.get(measure, math.nan))
        if x is None or not x > 0 or not math.isfinite(y):
            unplotted.append(c.system)
            x = None
        label = _sweep_label(sweep) if sweep and isinstance(sweep, Mapping) else c.system
        points.append(Point(c.system, base, label, x, y))
    plotted = [p for p in points if p.x is not None]
    for i in pareto_front([(p.x or 0.0, p.y) for p in plotted]):
        plotted[i].on_front = True
    curves: list[Curve] = []
    by_base: dict[str, list[Point]] = {}
    for p in plotted:
        by_base.setdefault(p.base, []).append(p)
    for base, pts in by_base.items():
        sweeps = [_sweep_of(results, p.system) for p in pts]
        if len(pts) < 2 or not all(isinstance(s, Mapping) and s for s in sweeps):
            continue
        params = list(sweeps[0])
        along, fixed = params[-1], params[:-1]
        groups: dict[str, list[int]] = {}
        for i in range(len(pts)):
            key = json.dumps([sweeps[i].get(k) for k in fixed], sort_keys=True, default=str)
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            if len(members) < 2:
                continue
            members.sort(key=lambda i: _sort_key(sweeps[i].get(along)))
            held = _sweep_label({k: sweeps[members[0]].get(k) for k in fixed})
            label = f"{base} ({along}" + (f"; {held})" if held else ")")
            curves.append(Curve(base, params, [pts[i] for i in members], label))
            if fixed:  # a grid: label each point by the swept value only
                for i in members:
                    pts[i].label = f"{along}={_fmt_value(sweeps[i].get(along))}"
    return points, curves, unplotted


def _winloss(cells: list[Cell], baseline: str | None, measure: str) -> list[WinLoss]:
    base = next((c for c in cells if c.system == baseline), None)
    if base is None:
        return []
    ref = base.per_query.get(measure, {})
    out: list[WinLoss] = []
    for c in cells:
        if c.system == baseline:
            continue
        values = c.per_query.get(measure, {})
        qids = list(dict.fromkeys([*ref, *values]))
        deltas = [(q, float(values.get(q, 0.0)) - float(ref.get(q, 0.0))) for q in qids]
        wins = sum(1 for _, d in deltas if d > TIE_EPS)
        losses = sum(1 for _, d in deltas if d < -TIE_EPS)
        ordered = sorted(deltas, key=lambda qd: (qd[1], qd[0]))
        out.append(
            WinLoss(
                system=c.system,
                wins=wins,
                ties=len(deltas) - wins - losses,
                losses=losses,
                mean_delta=sum(d for _, d in deltas) / len(deltas) if deltas else 0.0,
                best=[qd for qd in reversed(ordered[-3:]) if qd[1] > TIE_EPS],
                worst=[qd for qd in ordered[:3] if qd[1] < -TIE_EPS],
            )
        )
    return out


def _sub(d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """d[key] when it is a mapping, else an empty one."""
    v = d.get(key)
    return v if isinstance(v, Mapping) else {}


def _sweep_of(results: ResultSet, system: str) -> dict[str, Any]:
    info = results.systems.get(system)
    return info.sweep if info is not None else {}


def _latency_row(c: Cell, e2e: EndToEnd | None) -> dict[str, Any]:
    t = c.timing
    stats = e2e.stats() if e2e is not None else LatencyStats()
    cpu = e2e.stats("cpu") if e2e is not None else LatencyStats()
    stages = [(s.type, s.latency.mean, s.latency.p50, s.replayed_ms > 0) for s in (t.stages if t else ())]
    threads = t.threads if t else {}
    return {
        "system": c.system,
        "mode": t.config.mode if t else "—",
        "n": stats.n,
        "stats": {s: stats.get(s) for s in STATISTICS},
        "cpu_p50": cpu.p50,
        "qps": e2e.qps if e2e is not None else None,
        # An incomplete end-to-end cost still names what the system reads.
        "inputs": list(e2e.inputs if e2e is not None and e2e.inputs is not None else (t.depends_on if t else ())),
        "inputs_complete": e2e.complete if e2e is not None else True,
        "stages": stages,
        "threads": ", ".join(f"{k}={v}" for k, v in threads.items() if k != "cpu_count" and v is not None),
        "resumed": c.resumed,
    }


_COST_KEYS = ("build_s", "docs", "docs_per_s", "index_bytes", "memory_bytes")


def _short(v: Any) -> str:
    """A cost value for the 'other' column: floats rounded, long strings (hashes) cut."""
    if isinstance(v, float):
        return f"{v:.4g}"
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text if len(text) <= 40 else text[:12] + "…"


def _cost_rows(c: Cell) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if c.timing is None:
        return rows
    peak = c.timing.memory.peak_rss_bytes
    for s in c.timing.stages:
        costs = s.costs
        build_s = costs.get("build_s", s.prepare_s)
        docs = costs.get("docs")
        dps = costs.get("docs_per_s")  # the stage's own figure (e.g. encoding alone) first
        if not isinstance(dps, (int, float)):
            dps = None
            if isinstance(docs, (int, float)) and isinstance(build_s, (int, float)) and build_s > 0:
                dps = float(docs) / float(build_s)
        extra = {k: _short(v) for k, v in costs.items() if k not in _COST_KEYS}
        rows.append(
            {
                "system": c.system,
                "stage": s.type,
                "prepare_s": s.prepare_s,
                "build_s": build_s,
                "cached": s.cached,
                "docs": docs,
                "docs_per_s": dps,
                "index_bytes": costs.get("index_bytes"),
                "memory_bytes": costs.get("memory_bytes"),
                "rss_delta_bytes": s.rss_delta_bytes,
                "peak_rss_bytes": peak,
                "extra": ", ".join(f"{k}={v}" for k, v in sorted(extra.items())),
                "resumed": c.resumed,
            }
        )
    return rows


def _significance(results: ResultSet, dataset: str) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str]]:
    comp = results.comparisons if isinstance(results.comparisons, Mapping) else {}
    primary = str(comp.get("primary", "t"))
    rows: list[dict[str, Any]] = []
    markers: dict[tuple[str, str], str] = {}
    for r in comp.get("results") or []:
        if not isinstance(r, Mapping) or r.get("dataset") != dataset:
            continue
        test = _sub(_sub(r, "tests"), primary)
        ci = r.get("delta_ci")
        row = {
            "system": str(r.get("system", "?")),
            "measure": str(r.get("measure", "?")),
            "baseline": str(r.get("baseline", "?")),
            "mean": r.get("mean"),
            "delta": r.get("delta"),
            "ci": tuple(ci) if isinstance(ci, list) and len(ci) == 2 else (None, None),
            "p": test.get("p_adjusted", test.get("p")),
            "significant": bool(r.get("significant")),
            "direction": str(r.get("direction", "none")),
            "counts": (r.get("improved"), r.get("unchanged"), r.get("degraded")),
        }
        rows.append(row)
        if row["significant"]:
            markers[(row["system"], row["measure"])] = "▲" if row["direction"] == "better" else "▼"
    return rows, markers


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out.append((prefix, value if isinstance(value, str) else json.dumps(value, default=str)))


def _comparisons_against(results: ResultSet, baseline: str | None) -> ResultSet:
    """The stored comparisons are against one baseline system; markers and the significance
    table must refer to the report's baseline, so they are recomputed when it differs."""
    stored = results.comparisons.get("baseline") if results.comparisons else None
    if baseline is None or stored == baseline or not results.settings.compare.enabled:
        return results
    from harness.compare import attach_comparisons

    config = results.settings.compare.model_copy(update={"baseline": baseline})
    return attach_comparisons(results, config)


def build(results: ResultSet, options: ReportOptions) -> ReportView:
    measure = _resolve_measure(results, options.measure)
    stat = _resolve_stat(options.latency_stat)
    baseline = results.baseline_system(options.baseline)
    results = _comparisons_against(results, baseline)
    by_dataset: dict[str, list[Cell]] = {}
    for c in results.cells:
        by_dataset.setdefault(c.dataset, []).append(c)
    datasets: list[DatasetView] = []
    summary: list[dict[str, Any]] = []
    for name, cells in by_dataset.items():
        best: dict[str, float] = {}
        for m in results.measures:
            values = [float(c.aggregate[m]) for c in cells if m in c.aggregate and math.isfinite(float(c.aggregate[m]))]
            if values:
                best[m] = max(values)
                winners = [c.system for c in cells if m in c.aggregate and float(c.aggregate[m]) == best[m]]
                summary.append({"dataset": name, "measure": m, "systems": winners, "value": best[m]})
        e2e = end_to_end(results, cells)
        points, curves, unplotted = _points(results, cells, measure, stat, e2e)
        info = results.datasets.get(name, {})
        significance, markers = _significance(results, name)
        datasets.append(
            DatasetView(
                name=name,
                info=info,
                cells=cells,
                best=best,
                points=points,
                curves=curves,
                unplotted=unplotted,
                winloss=_winloss(cells, baseline, measure),
                baseline=baseline if any(c.system == baseline for c in cells) else None,
                latency_rows=[_latency_row(c, e2e.get(c.system)) for c in cells],
                cost_rows=[r for c in cells for r in _cost_rows(c)],
                significance=significance,
                markers=markers,
            )
        )
    manifest: list[tuple[str, str]] = []
    for k, v in results.manifest.model_dump(mode="json", exclude={"spec"}).items():
        _flatten(k, v, manifest)
    envs: dict[str, dict[str, Any]] = {k: {"id": k, "env": e, "cells": []} for k, e in results.environment.items()}
    for c in results.cells:
        if c.timing is not None and c.timing.environment_id in envs:
            envs[c.timing.environment_id]["cells"].append(f"{c.dataset} / {c.system}")
    return ReportView(
        experiment=results.experiment,
        measures=list(results.measures),
        measure=measure,
        stat=stat,
        datasets=datasets,
        summary=summary,
        manifest=manifest,
        spec_json=json.dumps(results.manifest.spec, indent=2, default=str, ensure_ascii=False),
        environments=list(envs.values()),
        systems=results.systems,
    )


# ---------------------------------------------------------------- formatting helpers


def fmt_measure(v: Any) -> str:
    return f"{float(v):.4f}" if isinstance(v, (int, float)) and math.isfinite(float(v)) else "—"


def fmt_p(v: Any) -> str:
    if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        return "—"
    return f"{float(v):.2g}" if v < 0.001 else f"{float(v):.3f}"


def fmt_ms(v: Any) -> str:
    if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        return "—"
    v = float(v)
    if v >= 100:
        return f"{v:.0f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_s(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "—"
    return f"{float(v):.3f}" if v < 100 else f"{float(v):.0f}"


def fmt_rate(v: Any) -> str:
    if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        return "—"
    return f"{float(v):,.0f}" if v >= 100 else f"{float(v):.1f}"


def fmt_bytes(v: Any) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return "—"
    n = float(v)
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    return f"{sign}{n:.1f} TiB"  # pragma: no cover


_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def slug(text: str) -> str:
    """A file-name-safe form of a name (never empty, never a path)."""
    return _SLUG.sub("_", text).strip("._") or "_"


def unique_slugs(names: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    used: set[str] = set()
    for n in names:
        s = base = slug(n)
        i = 2
        while s in used:
            s = f"{base}-{i}"
            i += 1
        used.add(s)
        out[n] = s
    return out
