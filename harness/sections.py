"""Typed models of the spec's settings sections: `latency:`, `compare:`, `gate:`, `report:`.

They are parsed once, when the spec loads (harness.plan), with file:line errors for every key
at every depth; the runner, the comparisons, the gate and the report receive these instances
and never read the raw mappings again. results.json stores them (`settings`), so `harness
report` and `harness gate` read back the same typed values.

Pure pydantic records: this module imports nothing from harness but errors.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Correction = Literal["holm", "bonferroni", "bh", "none"]
TestName = Literal["t", "wilcoxon", "randomisation"]
LatencyStatistic = Literal["mean", "p50", "p90", "p95", "p99", "max"]
LatencyScope = Literal["end-to-end", "search-only"]
"""What a per-query latency covers: everything the pipeline did (default), or without query
encoding (every stage's `encode` step), so that an approximate index's search shows its own cost."""
SCOPES: tuple[LatencyScope, ...] = ("end-to-end", "search-only")
ALL_TESTS: tuple[TestName, ...] = ("t", "wilcoxon", "randomisation")
STATISTICS: tuple[LatencyStatistic, ...] = ("mean", "p50", "p90", "p95", "p99", "max")
"""Latency statistics, in the order tables show them."""


class Section(BaseModel):
    """Base of every section: frozen, unknown keys rejected, strict types as for stage
    parameters (harness.systems.StageParams): whole numbers for ints, numbers (ints too) for
    floats, booleans for bools, text for strings, finite numbers only. `latency.mode: off`
    is the one YAML boolean read as a word (see `LatencyConfig`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class LatencyConfig(Section):
    """The spec's `latency:` section.

    mode: `per-query` times each query alone through the pipeline (as a search service sees
    it) after `warmup` queries, plus one batch pass for throughput; `batch` times the batch
    pass only; `off` times the batch pass that produces the run, without warm-up.
    """

    mode: Literal["per-query", "batch", "off"] = "per-query"
    warmup: int = Field(default=5, ge=0, description="queries run through the pipeline before timing")
    repeats: int = Field(default=1, ge=1, le=100, description="per-query passes; every sample is kept")
    max_queries: int | None = Field(default=None, gt=0, description="time at most this many queries alone")
    retimes: int = Field(default=2, ge=0, le=10, description="extra per-query passes when a pass is noisy")
    max_tail_drift: float = Field(
        default=2.0,
        gt=1.0,
        description="a pass whose slowest queries, timed again, run this many times faster is noisy",
    )
    max_others_cpu: float = Field(
        default=0.5, ge=0.0, description="a pass beside other processes using more CPU cores than this is noisy"
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted `off` as the boolean false.
        return "off" if value is False else value


MAX_RESAMPLES = 1_000_000
"""More resamples change no reported digit, and each costs memory in scipy's bootstrap."""


class BootstrapConfig(Section):
    resamples: int = Field(default=2000, ge=100, le=MAX_RESAMPLES)
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    seed: int = Field(default=0, ge=0, description="numpy refuses negative seeds")


class RandomisationConfig(Section):
    resamples: int = Field(default=10_000, ge=100, le=MAX_RESAMPLES)
    seed: int = Field(default=0, ge=0, description="numpy refuses negative seeds")


class CompareConfig(Section):
    """The spec's `compare:` section: every system against a baseline system."""

    baseline: str | None = None
    measures: list[str] | None = None
    tests: list[TestName] = Field(default_factory=lambda: list(ALL_TESTS), min_length=1)
    primary: TestName = "t"
    correction: Correction = "holm"
    family: Literal["dataset-measure", "all"] = "dataset-measure"
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    randomisation: RandomisationConfig = Field(default_factory=RandomisationConfig)
    enabled: bool = True

    @model_validator(mode="after")
    def _primary_is_run(self) -> CompareConfig:
        if self.primary not in self.tests:
            raise ValueError(f"primary test '{self.primary}' is not among tests {self.tests}")
        return self


Threshold = float | dict[str, float | None] | None
GatedPercentile = Literal["p50", "p95"]
_GATED: tuple[GatedPercentile, ...] = ("p50", "p95")


class LatencyRule(Section):
    """Latency is gated as each system's ratio to a reference system of the same run.

    Defaults suit shared CI machines: CPU time (other jobs do not inflate it, see `clock`), the
    median only (p95 of a few dozen sub-millisecond queries is one or two samples), and a noise
    floor: a change smaller than `min_delta_ms` per query, expressed at the reference's current
    speed, is never a regression however large the ratio (a 0.01 ms stage doubling is noise).
    """

    reference: str | None = None
    max_growth: float = Field(default=0.5, ge=0.0)
    percentiles: list[GatedPercentile] = Field(default_factory=lambda: list(_GATED[:1]))
    clock: Literal["wall", "cpu"] = "cpu"
    min_delta_ms: float = Field(default=1.0, ge=0.0)
    scope: LatencyScope = "end-to-end"
    """`search-only` gates the ratios without query encoding (the snapshot stores both)."""


class GateRules(Section):
    """The spec's `gate:` section (the command line overrides it key by key)."""

    snapshot: str | None = None
    """The committed snapshot file the gate compares against (`harness snapshot save`)."""
    max_drop: Threshold = 0.01
    margin: Threshold = 0.01
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    correction: Correction = "holm"
    exact: list[str] = Field(default_factory=list)
    latency: LatencyRule = Field(default_factory=LatencyRule)
    bootstrap_resamples: int = Field(default=2000, ge=100, le=MAX_RESAMPLES)
    seed: int = Field(default=0, ge=0, description="numpy refuses negative seeds")

    @field_validator("max_drop", "margin")
    @classmethod
    def _non_negative(cls, v: Threshold) -> Threshold:
        values = [v] if not isinstance(v, dict) else list(v.values())
        for x in values:
            if x is not None and (not math.isfinite(x) or x < 0):
                raise ValueError(f"thresholds must be non-negative numbers (got {x})")
        return v

    def threshold(self, which: Literal["max_drop", "margin"], measure: str) -> float | None:
        v: Threshold = getattr(self, which)
        if isinstance(v, dict):
            return v.get(measure, v.get("default"))
        return v


class ReportConfig(Section):
    """The spec's `report:` section (the `harness report` options override it)."""

    measure: str | None = None
    """Measure on the y axis of the trade-off plots and of win/loss (default nDCG@10)."""
    latency: LatencyStatistic = "p50"
    """Latency statistic on the x axis."""
    scope: LatencyScope = "end-to-end"
    """What that latency covers: `search-only` leaves query encoding out, so that the sweeps of
    approximate indexes sharing one encoder show their own curves."""
    baseline: str | None = None
    """System the per-query win/loss and significance markers compare against (default: the
    compare section's baseline, else the first system)."""


class ExecutorConfig(Section):
    """The spec's `executor:` section (`harness run --executor/--ray-address` override it): where
    the heavy work of a run goes. `local` (default): this process. `ray`: every cell's indexing
    and encoding runs first as Ray tasks across the cluster, writing the artefact cache; the
    cells are then run and timed here one at a time from that cache, so that latency is never
    measured beside other work and the runs are those of a local run."""

    type: Literal["local", "ray"] = "local"
    address: str | None = None
    """ray: `auto` (a cluster already running, e.g. `ray start --head`), `local` (start one in
    this process; the default), or `ray://host:port`."""
    num_cpus: int | None = Field(default=None, ge=1)
    """ray with `address: local`: CPUs of the cluster started here (default: all)."""
    workers: int | None = Field(default=None, ge=1)
    """ray: actors that encode a corpus's shards, or score a re-ranker's pairs, at once
    (default: the cluster's CPUs divided by the stage's `threads`, at most one per unit of work)."""

    @model_validator(mode="before")
    @classmethod
    def _word(cls, v: Any) -> Any:
        return {"type": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _ray_only(self) -> ExecutorConfig:
        if self.type == "local" and (self.address, self.num_cpus, self.workers) != (None, None, None):
            raise ValueError("address, num_cpus and workers are settings of `type: ray`")
        return self


class MlflowConfig(Section):
    """`tracking: {mlflow: ...}`: where `harness run` logs its results (harness.mlflow_log)."""

    uri: str = Field(min_length=1)
    """The tracking URI: `sqlite:///mlflow.db`, `http://host:5000`, a folder, ..."""
    experiment: str | None = Field(default=None, min_length=1)
    """The MLflow experiment (default: the spec's name)."""


class TrackingConfig(Section):
    """The spec's `tracking:` section (`harness run --mlflow URI` sets it too)."""

    mlflow: MlflowConfig | None = None


class Settings(Section):
    """Every settings section of a spec, as parsed once at load."""

    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    gate: GateRules = Field(default_factory=GateRules)
    report: ReportConfig = Field(default_factory=ReportConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
