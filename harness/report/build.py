"""ResultSet -> ReportView: everything the report shows, computed from results.json alone."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from harness.latency import end_to_end
from harness.report.online_view import online_view
from harness.report.options import ReportOptions, resolve_latency_stat, resolve_measure, resolve_scope
from harness.report.rows import cost_rows, latency_row, significance_rows, winloss_rows
from harness.report.tradeoff import tradeoff_points
from harness.report.view import DatasetView, ReportView
from harness.report.where_ran import latency_note, offline_note
from harness.results import Cell, ResultSet
from harness.sections import LatencyScope


def _comparisons_against(results: ResultSet, baseline: str | None) -> ResultSet:
    """The stored comparisons are against one baseline system; markers and the significance
    table must refer to the report's baseline, so they are recomputed when it differs."""
    stored = results.comparisons.get("baseline") if results.comparisons else None
    if baseline is None or stored == baseline or not results.settings.compare.enabled:
        return results
    from harness.compare import attach_comparisons

    config = results.settings.compare.model_copy(update={"baseline": baseline})
    return attach_comparisons(results, config)


def _best(measures: list[str], cells: list[Cell]) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Per measure: the best finite value among the cells, and the systems that reach it."""
    best: dict[str, float] = {}
    winners: dict[str, list[str]] = {}
    for m in measures:
        values = [float(c.aggregate[m]) for c in cells if m in c.aggregate and math.isfinite(float(c.aggregate[m]))]
        if values:
            best[m] = max(values)
            winners[m] = [c.system for c in cells if m in c.aggregate and float(c.aggregate[m]) == best[m]]
    return best, winners


def _dataset_view(
    results: ResultSet,
    name: str,
    cells: list[Cell],
    best: dict[str, float],
    *,
    measure: str,
    stat: str,
    scope: LatencyScope,
    baseline: str | None,
) -> DatasetView:
    e2e = end_to_end(results, cells, scope)
    points, curves, unplotted = tradeoff_points(results, cells, measure, stat, e2e)
    significance, markers = significance_rows(results, name)
    return DatasetView(
        name=name,
        info=results.datasets.get(name, {}),
        cells=cells,
        best=best,
        points=points,
        curves=curves,
        unplotted=unplotted,
        winloss=winloss_rows(cells, baseline, measure),
        baseline=baseline if any(c.system == baseline for c in cells) else None,
        latency_rows=[latency_row(c, e2e.get(c.system)) for c in cells],
        cost_rows=[r for c in cells for r in cost_rows(c)],
        significance=significance,
        markers=markers,
        online=online_view(results.online.get(name)),
    )


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out.append((prefix, value if isinstance(value, str) else json.dumps(value, default=str)))


def _manifest_rows(results: ResultSet) -> list[tuple[str, str]]:
    """The manifest as (dotted key, text) rows; the spec has its own section."""
    rows: list[tuple[str, str]] = []
    for k, v in results.manifest.model_dump(mode="json", exclude={"spec"}).items():
        _flatten(k, v, rows)
    return rows


def _environments(results: ResultSet) -> list[dict[str, Any]]:
    """Each machine/software fingerprint with the cells measured on it."""
    envs: dict[str, dict[str, Any]] = {k: {"id": k, "env": e, "cells": []} for k, e in results.environment.items()}
    for c in results.cells:
        if c.timing is not None and c.timing.environment_id in envs:
            envs[c.timing.environment_id]["cells"].append(f"{c.dataset} / {c.system}")
    return list(envs.values())


def build(results: ResultSet, options: ReportOptions) -> ReportView:
    """The report's view of `results`; raises EvalError / SystemConfigError for bad options."""
    measure = resolve_measure(results, options.measure)
    stat = resolve_latency_stat(options.latency_stat)
    scope = resolve_scope(options.scope)
    baseline = results.baseline_system(options.baseline)
    results = _comparisons_against(results, baseline)
    by_dataset: dict[str, list[Cell]] = {}
    for c in results.cells:
        by_dataset.setdefault(c.dataset, []).append(c)
    datasets: list[DatasetView] = []
    summary: list[dict[str, Any]] = []
    for name, cells in by_dataset.items():
        best, winners = _best(results.measures, cells)
        summary += [{"dataset": name, "measure": m, "systems": winners[m], "value": v} for m, v in best.items()]
        datasets.append(
            _dataset_view(results, name, cells, best, measure=measure, stat=stat, scope=scope, baseline=baseline)
        )
    return ReportView(
        experiment=results.experiment,
        measures=list(results.measures),
        measure=measure,
        stat=stat,
        scope=scope,
        datasets=datasets,
        summary=summary,
        manifest=_manifest_rows(results),
        spec_json=json.dumps(results.manifest.spec, indent=2, default=str, ensure_ascii=False),
        environments=_environments(results),
        systems=results.systems,
        latency_note=latency_note(results.manifest.executor),
        offline_note=offline_note(results.manifest.executor),
    )
