"""Typed models of the spec's settings sections: `latency:`, `compare:`, `gate:`, `report:`,
`executor:`, `tracking:` and `online:`.

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


ClickModelType = Literal["pbm", "cascade", "dbn"]
ClickPreset = Literal["perfect", "navigational", "informational"]
InterleavingMethod = Literal["team-draft", "balanced", "probabilistic"]
_TEAM_DRAFT: tuple[InterleavingMethod, ...] = ("team-draft",)


class ClickModelConfig(Section):
    """One simulated user (harness.online.click_models). A word `TYPE-PRESET`
    (`pbm-informational`) is a type with a preset; a mapping may set any parameter instead.

    Per-grade lists are indexed by relevance grade (0 .. the judgments' top grade); an unjudged
    document has grade 0 and a negative grade counts as 0."""

    name: str | None = Field(default=None, min_length=1)
    """Label in results and the report (default: the word, or TYPE-PRESET, or the file's stem)."""
    type: ClickModelType | None = None
    """Required unless `from` names a fitted model, which carries its type."""
    preset: ClickPreset | None = None
    attractiveness: list[float] | None = Field(default=None, min_length=2)
    """P(click | examined) per grade (all three types)."""
    stop: list[float] | None = Field(default=None, min_length=2)
    """cascade: P(stop | click) per grade; dbn: P(satisfied | click) per grade."""
    examination: list[float] | None = Field(default=None, min_length=1)
    """pbm: P(examined) per rank from 1 (default: (1/rank)^eta)."""
    eta: float = Field(default=1.0, ge=0.0, le=10.0)
    continuation: float = Field(default=0.9, ge=0.0, le=1.0)
    """dbn: P(examine the next result | not satisfied)."""
    from_: str | None = Field(default=None, alias="from", min_length=1)
    """A model fitted by `harness clicks fit` (its JSON file, relative to the spec)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _word(cls, v: Any) -> Any:
        if isinstance(v, str):
            kind, _, preset = v.partition("-")
            return {"name": v, "type": kind, "preset": preset or None}
        return v

    @field_validator("attractiveness", "stop", "examination")
    @classmethod
    def _probabilities(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and any(not 0.0 <= x <= 1.0 for x in v):
            raise ValueError("probabilities must lie in [0, 1]")
        return v

    @model_validator(mode="after")
    def _complete(self) -> ClickModelConfig:
        if self.from_ is not None:
            if self.preset is not None or self.attractiveness is not None:
                raise ValueError("a fitted model (`from`) takes no preset or attractiveness")
            return self
        if self.type is None:
            raise ValueError("give `type` (pbm, cascade or dbn) or `from` (a fitted model)")
        if self.preset is None and self.attractiveness is None:
            raise ValueError("give a `preset` (perfect, navigational, informational) or `attractiveness`")
        if self.preset is not None and (self.attractiveness is not None or self.stop is not None):
            raise ValueError(
                f"preset {self.preset} sets attractiveness and stop; give the preset or your own values, not both"
            )
        if self.stop is not None and self.attractiveness is not None and len(self.stop) != len(self.attractiveness):
            raise ValueError("`stop` and `attractiveness` need one value per grade each")
        return self

    def label(self) -> str:
        if self.name:
            return self.name
        if self.from_ is not None:
            return self.from_.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".json")
        return f"{self.type}-{self.preset or 'custom'}"


class OnlineConfig(Section):
    """The spec's `online:` section: simulated interleaving and A/B tests between systems, from
    their runs and the judgments (harness.online)."""

    baseline: str | None = None
    """`pairs: baseline` compares every system with it (default: compare.baseline, else the first)."""
    pairs: Literal["baseline", "all"] | list[list[str]] = "baseline"
    """`baseline`, `all` (every pair, in spec order), or a list of [A, B] pairs."""
    click_models: list[ClickModelConfig] = Field(
        default_factory=lambda: [ClickModelConfig.model_validate("pbm-informational")], min_length=1
    )
    interleaving: list[InterleavingMethod] = Field(default_factory=lambda: list(_TEAM_DRAFT), min_length=1)
    ab: bool = True
    """Also simulate an A/B test (each system on its own traffic) under every click model."""
    impressions: int = Field(default=10_000, ge=100, le=10_000_000)
    """Per pair and method (interleaving), per system (A/B); queries drawn uniformly."""
    depth: int = Field(default=10, ge=1, le=100)
    """Results shown per impression."""
    seed: int = Field(default=0, ge=0, description="numpy refuses negative seeds")
    measure: str = "nDCG@10"
    """The offline measure each online outcome is set against (one of the spec's measures)."""
    top_grade: int | None = Field(default=None, ge=1, le=100)
    """The judgments' top grade, which presets are scaled to (default: the largest in the qrels)."""
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    power: float = Field(default=0.8, gt=0.0, lt=1.0)
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    resamples: int = Field(default=1000, ge=100, le=100_000)
    """Bootstrap resamples of the impressions for each preference's interval."""

    @field_validator("pairs", mode="before")
    @classmethod
    def _pairs(cls, v: Any) -> Any:
        if isinstance(v, list):
            if not v:
                raise ValueError("list at least one [A, B] pair, or use `baseline` or `all`")
            for pair in v:
                if not isinstance(pair, list) or len(pair) != 2 or pair[0] == pair[1]:
                    raise ValueError("each pair is a list of two different systems: pairs: [[bm25, tas-b], ...]")
        return v

    @model_validator(mode="after")
    def _unique_labels(self) -> OnlineConfig:
        labels = [m.label() for m in self.click_models]
        if len(set(labels)) != len(labels):
            raise ValueError(f"click models need distinct names (got {labels}); set `name:`")
        for m in self.click_models:
            if m.examination is not None and len(m.examination) < self.depth:
                raise ValueError(
                    f"click model '{m.label()}': examination lists {len(m.examination)} ranks, depth is {self.depth}"
                )
        if len(set(self.interleaving)) != len(self.interleaving):
            raise ValueError("an interleaving method is listed twice")
        return self


class Settings(Section):
    """Every settings section of a spec, as parsed once at load."""

    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    gate: GateRules = Field(default_factory=GateRules)
    report: ReportConfig = Field(default_factory=ReportConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    online: OnlineConfig | None = None
