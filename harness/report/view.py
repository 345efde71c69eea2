"""The report's records: every table, point and curve, as raw numbers the renderers only format.

Frozen: `build` makes them once and the HTML, Markdown and plots read the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.report.online_view import OnlineView
from harness.results import Cell, SystemInfo


@dataclass(frozen=True)
class Point:
    system: str
    base: str
    label: str
    x: float | None
    y: float
    on_front: bool = False
    noisy: bool = False
    """Its latency was timed while the machine was busy (Timing.noise): drawn hollow."""


@dataclass(frozen=True)
class Curve:
    """Variants of one swept system along its last swept parameter (the others held fixed)."""

    base: str
    parameters: list[str]
    points: list[Point]
    label: str = ""


@dataclass(frozen=True)
class WinLoss:
    system: str
    wins: int
    ties: int
    losses: int
    mean_delta: float
    best: list[tuple[str, float]]
    worst: list[tuple[str, float]]


@dataclass(frozen=True)
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
    online: OnlineView | None = None
    """Simulated interleaving and A/B tests (results.json `online`), if the spec asked for them."""


@dataclass(frozen=True)
class ReportView:
    experiment: str
    measures: list[str]
    measure: str
    stat: str
    scope: str
    """What the latencies cover: end-to-end or search-only (without query encoding)."""
    datasets: list[DatasetView]
    summary: list[dict[str, Any]]
    manifest: list[tuple[str, str]]
    spec_json: str
    environments: list[dict[str, Any]]
    systems: Mapping[str, SystemInfo] = field(default_factory=dict)
    latency_note: str = ""
    """How latency was measured given where the work ran (harness.report.where_ran)."""
    offline_note: str = ""
    """Where indexing and encoding ran: this process or a Ray cluster, its shards and tasks."""
