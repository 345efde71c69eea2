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

from harness.errors import EvalError, SpecError, SystemConfigError
from harness.latency import SAMPLE_KEYS, end_to_end_samples, latency_stats
from harness.pareto import pareto_front
from harness.plugins import did_you_mean
from harness.results import Cell, ResultSet
from harness.sections import STATISTICS

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


_REPORT_KEYS = {"measure": "measure", "latency": "latency_stat", "baseline": "baseline"}


def report_options(results: ResultSet, **overrides: str | None) -> ReportOptions:
    """Options from the spec's `report:` mapping (measure, latency, baseline), then overrides."""
    spec = results.manifest.get("spec")
    raw = spec.get("report") if isinstance(spec, Mapping) else None
    values: dict[str, Any] = {}
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            if key not in _REPORT_KEYS:
                raise SpecError(f"report: unknown key '{key}'", hint=f"valid keys: {', '.join(_REPORT_KEYS)}")
            values[_REPORT_KEYS[key]] = None if value is None else str(value)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("latency_stat") is None:
        values.pop("latency_stat", None)
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
    systems: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


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


def _resolve_baseline(results: ResultSet, wanted: str | None) -> str | None:
    names = list(dict.fromkeys(c.system for c in results.cells))
    if not names:
        return None
    explicit = wanted is not None
    if wanted is None and isinstance(results.comparisons, Mapping):
        found = results.comparisons.get("baseline")
        wanted = str(found) if isinstance(found, str) else None
    if wanted is None:
        spec = results.manifest.get("spec")
        compare = spec.get("compare") if isinstance(spec, Mapping) else None
        wanted = compare.get("baseline") if isinstance(compare, Mapping) else None
    if wanted is None:
        return names[0]
    if wanted in names:
        return str(wanted)
    variants = [n for n in names if str(results.systems.get(n, {}).get("base", n)) == wanted]
    if variants:
        return variants[0]
    if not explicit:
        return names[0]
    raise SystemConfigError(
        f"baseline system '{wanted}' is not in the results",
        hint=f"{did_you_mean(str(wanted), names)}systems: {', '.join(names)}",
    )


@dataclass
class EndToEnd:
    """A system's online cost including the systems whose runs it reads (fusion inputs, `use`).

    Per-query samples are summed query by query (the inputs run one after the other) and batch
    seconds are summed; `complete` is False when an input's timings are missing or cover other
    queries, and then `stats` is empty.
    """

    inputs: list[str]
    stats: dict[str, float]
    qps: float | None
    complete: bool


def _end_to_end(results: ResultSet, cells: list[Cell]) -> dict[str, EndToEnd]:
    out: dict[str, EndToEnd] = {}
    samples = end_to_end_samples(results, cells)
    for c in cells:
        e2e = samples[c.system]
        batch = _sub(c.timing, "batch")
        if e2e.inputs is None:
            deps = [str(d) for d in c.timing.get("depends_on") or []]
            out[c.system] = EndToEnd(deps, {}, None, False)
            continue
        if not e2e.inputs:
            own = _sub(c.timing, "latency")
            stats = {k: float(v) for k, v in own.items() if isinstance(v, (int, float))}
            qps = batch.get("qps")
            out[c.system] = EndToEnd([], stats, float(qps) if isinstance(qps, (int, float)) else None, True)
            continue
        complete = bool(e2e.samples)
        seconds = batch.get("seconds")
        for dep in e2e.inputs:
            dep_s = _sub(dep.timing, "batch").get("seconds")
            seconds = seconds + dep_s if isinstance(seconds, (int, float)) and isinstance(dep_s, (int, float)) else None
        n = batch.get("queries")
        e2e_qps = float(n) / seconds if complete and isinstance(n, int) and isinstance(seconds, (int, float)) else None
        stats = latency_stats(list(e2e.samples or ())) if complete else {}
        out[c.system] = EndToEnd([d.system for d in e2e.inputs], stats, e2e_qps, complete)
    return out


def latency_value(timing: Mapping[str, Any], stat: str) -> float | None:
    """A cell's whole-pipeline per-query latency statistic (ms), or None if not measured."""
    stats = timing.get("latency")
    if isinstance(stats, Mapping) and isinstance(stats.get(stat), (int, float)):
        return float(stats[stat])
    samples = timing.get("samples_ms")
    if isinstance(samples, list) and samples:
        return latency_stats(samples).get(stat)
    return None


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
        info = results.systems.get(c.system, {})
        base = str(info.get("base", c.system))
        sweep = info.get("sweep") or {}
        x = e2e[c.system].stats.get(stat) if c.system in e2e else latency_value(c.timing, stat)
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
        sweeps = [results.systems.get(p.system, {}).get("sweep") or {} for p in pts]
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


def _stage_names(timing: Mapping[str, Any]) -> list[str]:
    stages = timing.get("stages")
    return [str(s.get("type", "?")) for s in stages if isinstance(s, Mapping)] if isinstance(stages, list) else []


def _sub(d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """d[key] when it is a mapping, else an empty one (results.json may come from older runs)."""
    v = d.get(key)
    return v if isinstance(v, Mapping) else {}


def _cpu_p50(results: ResultSet, cells: list[Cell]) -> dict[str, float]:
    """Median per-query CPU time per system, end to end (inputs included), as the gate sees it."""
    out: dict[str, float] = {}
    for system, e in end_to_end_samples(results, cells, SAMPLE_KEYS["cpu"]).items():
        if e.samples:
            out[system] = float(latency_stats(list(e.samples))["p50"])
    return out


def _latency_row(c: Cell, e2e: EndToEnd | None, cpu_p50: float | None) -> dict[str, Any]:
    t = c.timing
    stats: Mapping[str, Any] = e2e.stats if e2e is not None else _sub(t, "latency")
    stages = [
        (
            str(s.get("type", "?")),
            _sub(s, "latency").get("mean"),
            _sub(s, "latency").get("p50"),
            isinstance(s.get("replayed_ms"), (int, float)) and s["replayed_ms"] > 0,
        )
        for s in t.get("stages") or []
        if isinstance(s, Mapping)
    ]
    threads = _sub(t, "threads")
    return {
        "system": c.system,
        "mode": _sub(t, "config").get("mode", "—"),
        "n": stats.get("n", 0),
        "stats": {s: stats.get(s) for s in STATISTICS},
        "cpu_p50": cpu_p50,
        "qps": e2e.qps if e2e is not None else _sub(t, "batch").get("qps"),
        "inputs": e2e.inputs if e2e is not None else [],
        "inputs_complete": e2e.complete if e2e is not None else True,
        "stages": stages,
        "threads": ", ".join(f"{k}={v}" for k, v in threads.items() if k != "cpu_count" and v is not None),
        "resumed": c.cached,
    }


_COST_KEYS = ("build_s", "cached", "docs", "docs_per_s", "index_bytes", "memory_bytes")


def _short(v: Any) -> str:
    """A cost value for the 'other' column: floats rounded, long strings (hashes) cut."""
    if isinstance(v, float):
        return f"{v:.4g}"
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text if len(text) <= 40 else text[:12] + "…"


def _cost_rows(c: Cell) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    peak = _sub(c.timing, "memory").get("peak_rss_bytes")
    for s in c.timing.get("stages") or []:
        if not isinstance(s, Mapping):
            continue
        costs = _sub(s, "costs")
        prepare_s = s.get("prepare_s")
        build_s = costs.get("build_s", prepare_s)
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
                "stage": str(s.get("type", "?")),
                "prepare_s": prepare_s,
                "build_s": build_s,
                "cached": bool(s.get("cached") or costs.get("cached")),
                "docs": docs,
                "docs_per_s": dps,
                "index_bytes": costs.get("index_bytes"),
                "memory_bytes": costs.get("memory_bytes"),
                "rss_delta_bytes": s.get("rss_delta_bytes"),
                "peak_rss_bytes": peak,
                "extra": ", ".join(f"{k}={v}" for k, v in sorted(extra.items())),
                "resumed": c.cached,
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


def build(results: ResultSet, options: ReportOptions) -> ReportView:
    measure = _resolve_measure(results, options.measure)
    stat = _resolve_stat(options.latency_stat)
    baseline = _resolve_baseline(results, options.baseline)
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
        e2e = _end_to_end(results, cells)
        cpu = _cpu_p50(results, cells)
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
                latency_rows=[_latency_row(c, e2e.get(c.system), cpu.get(c.system)) for c in cells],
                cost_rows=[r for c in cells for r in _cost_rows(c)],
                significance=significance,
                markers=markers,
            )
        )
    manifest: list[tuple[str, str]] = []
    for k, v in results.manifest.items():
        if k != "spec":
            _flatten(k, v, manifest)
    envs: dict[str, dict[str, Any]] = {}
    for c in results.cells:
        env = c.timing.get("environment")
        if isinstance(env, Mapping):
            key = str(env.get("id") or json.dumps(env, sort_keys=True, default=str))
            entry = envs.setdefault(key, {"id": key, "env": env, "cells": []})
            entry["cells"].append(f"{c.dataset} / {c.system}")
    return ReportView(
        experiment=results.experiment,
        measures=list(results.measures),
        measure=measure,
        stat=stat,
        datasets=datasets,
        summary=summary,
        manifest=manifest,
        spec_json=json.dumps(results.manifest.get("spec", {}), indent=2, default=str, ensure_ascii=False),
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
