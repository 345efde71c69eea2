"""Quality against latency: one point per system, the Pareto frontier, and a curve per sweep.

A system is plotted at its end-to-end latency (harness.latency), so a fusion is not drawn as
nearly free; a system without a positive latency or a finite measure is listed, not plotted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from harness.latency import EndToEnd
from harness.pareto import pareto_front
from harness.report.view import Curve, Point
from harness.results import Cell, ResultSet


@dataclass(frozen=True)
class _SweepGroup:
    """Points (indices) of one base system that differ only in its last swept parameter."""

    base: str
    parameters: list[str]
    members: list[int]
    label: str
    along: str
    grid: bool


def _fmt_value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _sweep_label(sweep: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in sweep.items())


def _sort_key(v: Any) -> tuple[int, float, str]:
    # Numbers in numeric order, then booleans, then anything else by its JSON text.
    if isinstance(v, bool):
        return (1, float(v), "")
    if isinstance(v, (int, float)):
        return (0, float(v), "")
    return (2, 0.0, json.dumps(v, sort_keys=True, default=str))


def _sweep_of(results: ResultSet, system: str) -> dict[str, Any]:
    info = results.systems.get(system)
    return info.sweep if info is not None else {}


def _raw_points(
    results: ResultSet, cells: list[Cell], measure: str, stat: str, e2e: Mapping[str, EndToEnd]
) -> tuple[list[Point], list[str]]:
    points: list[Point] = []
    unplotted: list[str] = []
    for c in cells:
        info = results.systems.get(c.system)
        base = info.base if info is not None else c.system
        sweep = _sweep_of(results, c.system)
        x = e2e[c.system].stats().get(stat) if c.system in e2e else None
        y = float(c.aggregate.get(measure, math.nan))
        if x is None or not x > 0 or not math.isfinite(y):
            unplotted.append(c.system)
            x = None
        label = _sweep_label(sweep) if sweep and isinstance(sweep, Mapping) else c.system
        noisy = c.timing is not None and c.timing.noise is not None and c.timing.noise.noisy
        points.append(Point(c.system, base, label, x, y, noisy=noisy))
    return points, unplotted


def _sweep_groups(results: ResultSet, points: list[Point], plotted: list[int]) -> list[_SweepGroup]:
    by_base: dict[str, list[int]] = {}
    for i in plotted:
        by_base.setdefault(points[i].base, []).append(i)
    groups: list[_SweepGroup] = []
    for base, idx in by_base.items():
        sweeps = {i: _sweep_of(results, points[i].system) for i in idx}
        if len(idx) < 2 or not all(isinstance(s, Mapping) and s for s in sweeps.values()):
            continue
        params = list(sweeps[idx[0]])
        along, fixed = params[-1], params[:-1]
        held: dict[str, list[int]] = {}
        for i in idx:
            key = json.dumps([sweeps[i].get(k) for k in fixed], sort_keys=True, default=str)
            held.setdefault(key, []).append(i)
        for members in held.values():
            if len(members) < 2:
                continue
            members.sort(key=lambda i: _sort_key(sweeps[i].get(along)))
            fixed_label = _sweep_label({k: sweeps[members[0]].get(k) for k in fixed})
            label = f"{base} ({along}" + (f"; {fixed_label})" if fixed_label else ")")
            groups.append(_SweepGroup(base, params, members, label, along, grid=bool(fixed)))
    return groups


def tradeoff_points(
    results: ResultSet, cells: list[Cell], measure: str, stat: str, e2e: Mapping[str, EndToEnd]
) -> tuple[list[Point], list[Curve], list[str]]:
    """(a point per cell, the sweep curves, the systems not plotted) for one dataset's cells."""
    raw, unplotted = _raw_points(results, cells, measure, stat, e2e)
    plotted = [i for i, p in enumerate(raw) if p.x is not None]
    front = {plotted[j] for j in pareto_front([(raw[i].x or 0.0, raw[i].y) for i in plotted])}
    groups = _sweep_groups(results, raw, plotted)
    labels: dict[int, str] = {}
    for g in groups:
        if g.grid:  # the curve's label names the fixed values: each point, its swept value only
            for i in g.members:
                labels[i] = f"{g.along}={_fmt_value(_sweep_of(results, raw[i].system).get(g.along))}"
    points = [replace(p, label=labels.get(i, p.label), on_front=i in front) for i, p in enumerate(raw)]
    curves = [Curve(g.base, g.parameters, [points[i] for i in g.members], g.label) for g in groups]
    return points, curves, unplotted
