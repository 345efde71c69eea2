"""Typed records of what a cell cost: per-query latency samples, per-stage times, offline costs.

The pipeline builds a `Timing` for every cell; results.json stores it (`Timing.to_dict`) and
every reader (report, snapshot, gate) gets it back typed (`Timing.from_dict`), so nobody
guesses at key names. Samples are kept raw so any statistic can be recomputed from them.
The machine the cell ran on is stored once per result set; a Timing names it by id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.sections import LatencyConfig, LatencyScope, LatencyStatistic

_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}


def latency_stats(samples_ms: Sequence[float]) -> dict[str, float]:
    """mean, p50, p90, p95, p99 and max of latency samples (ms), plus their count `n`.

    Percentiles use numpy's default linear interpolation. An empty sample gives `{"n": 0}`.
    """
    import numpy as np

    if len(samples_ms) == 0:
        return {"n": 0}
    a = np.asarray(samples_ms, dtype=np.float64)
    out = {"n": int(a.size), "mean": round(float(a.mean()), 6)}
    for name, q in _PERCENTILES.items():
        out[name] = round(float(np.percentile(a, q)), 6)
    out["max"] = round(float(a.max()), 6)
    return out


class Record(BaseModel):
    """Base of the stored records: frozen, unknown keys rejected (a tampered file is refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyStats(Record):
    """Summary of latency samples in ms; every statistic is None when there are no samples."""

    n: int = Field(default=0, ge=0)
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> LatencyStats:
        return cls.model_validate(latency_stats(samples_ms))

    def get(self, stat: LatencyStatistic | str) -> float | None:
        value = getattr(self, stat, None) if stat in type(self).model_fields and stat != "n" else None
        return float(value) if isinstance(value, (int, float)) else None


class OfflineCost(Record):
    """What the stages' `prepare` cost, all stages together."""

    prepare_s: float
    build_s: float
    """Seconds the artefacts took when they were computed (cached ones: as recorded then)."""
    cached: bool
    """True when any artefact came from the artefact cache."""


class BatchTiming(Record):
    """The batch pass that produced the run: all queries at once through each stage."""

    queries: int
    seconds: float
    qps: float | None
    replayed_s: float = 0.0
    """Seconds of cached online work (recorded when computed) included in `seconds`."""


class MemoryUse(Record):
    peak_rss_bytes: int | None = None
    rss_start_bytes: int | None = None
    rss_end_bytes: int | None = None


class PartTiming(Record):
    """One step of a stage's per-query work that the stage timed apart (`Stage.part`)."""

    latency: LatencyStats = Field(default_factory=LatencyStats)
    samples_ms: tuple[float, ...] = ()
    """Per-query wall times of the step, aligned with `Timing.query_ids`."""


class TimingNoise(Record):
    """How busy the machine was while the cell's per-query latency was timed, and what the
    pipeline did about it (harness.runner.per_query, harness.noise)."""

    passes: int = Field(ge=1)
    """Per-query passes run: 1, plus one per noisy pass re-timed (at most `latency.retimes`)."""
    kept: int = Field(ge=1)
    """Which pass (1-based) the samples come from: the first clean one, else the lowest p90."""
    noisy: bool
    """True when even the kept pass was noisy: its latency measured the machine, not only the system."""
    reason: str = ""
    """Why the kept pass is noisy ('' when it is not)."""
    others_cpu: float | None = None
    """Cores other processes kept busy on average during the kept pass (None where unknown)."""
    steal: float | None = None
    """Share of CPU time the hypervisor gave other guests during the kept pass."""
    loadavg: float | None = None
    tail_drift: float | None = None
    """How many times faster the kept pass's slowest queries ran when timed once more."""
    pass_reasons: tuple[str, ...] = ()
    """Per pass, why it was noisy ('' for a clean one)."""
    threads: int | None = None
    """Threads the kept pass ran at: the cell's count less the cores other processes held when
    it started (harness.threads.cores_for_timing); None where the count was not managed."""


class StageTiming(Record):
    """One stage of a pipeline."""

    type: str
    prepare_s: float
    search_s: float
    """Seconds of the batch pass."""
    costs: dict[str, Any] = Field(default_factory=dict)
    """What the stage recorded about its artefacts (docs, index_bytes, build_s, model, ...)."""
    cached: bool = False
    """True when the stage's artefact came from the artefact cache."""
    rss_delta_bytes: int | None = None
    replayed_ms: float = 0.0
    latency: LatencyStats = Field(default_factory=LatencyStats)
    samples_ms: tuple[float, ...] = ()
    """Per-query latencies of this stage, aligned with `Timing.query_ids`."""
    parts: dict[str, PartTiming] = Field(default_factory=dict)
    """Steps timed apart, by name (`encode`, `search`, `tokenise`, `model`, ...), in the order
    the stage runs them; the rest of `samples_ms` is the harness's own work."""


class Timing(Record):
    """Every cost of one cell (see harness.runner.pipeline for how each is measured)."""

    config: LatencyConfig
    queries: int
    offline: OfflineCost
    batch: BatchTiming
    latency: LatencyStats
    """Whole-pipeline per-query wall time (this system's own stages only; see harness.latency
    for end-to-end times of systems that read other systems' runs)."""
    depends_on: tuple[str, ...] = ()
    """Systems whose runs this one reads (fusion inputs, `use`)."""
    query_ids: tuple[str, ...] = ()
    samples_ms: tuple[float, ...] = ()
    cpu_latency: LatencyStats = Field(default_factory=LatencyStats)
    cpu_samples_ms: tuple[float, ...] = ()
    """Per-query CPU time of the whole process (all threads), aligned with `query_ids`."""
    encode_samples_ms: tuple[float, ...] = ()
    """Per query, the part of `samples_ms` spent encoding the query (every stage's `encode`
    step); empty when no stage encodes. The search-only scope leaves it out."""
    encode_cpu_samples_ms: tuple[float, ...] = ()
    """The same on the CPU clock (part of `cpu_samples_ms`)."""
    stages: tuple[StageTiming, ...] = ()
    memory: MemoryUse = Field(default_factory=MemoryUse)
    threads: dict[str, Any] = Field(default_factory=dict)
    environment_id: str | None = None
    """Key of the result set's `environment` entry this cell was measured on."""
    noise: TimingNoise | None = None
    """The machine's load during the per-query pass (None when nothing was timed per query)."""

    def samples(self, clock: str = "wall", scope: LatencyScope = "end-to-end") -> tuple[float, ...]:
        """Per-query samples of `clock`; in the search-only scope, without query encoding."""
        own = self.cpu_samples_ms if clock == "cpu" else self.samples_ms
        encode = self.encode_cpu_samples_ms if clock == "cpu" else self.encode_samples_ms
        if scope == "end-to-end" or not encode or len(encode) != len(own):
            return own
        return tuple(round(max(0.0, a - b), 4) for a, b in zip(own, encode, strict=True))

    def stats(self, clock: str = "wall", scope: LatencyScope = "end-to-end") -> LatencyStats:
        if scope == "search-only" and self.encode_samples_ms:
            return LatencyStats.of(self.samples(clock, scope))
        return self.cpu_latency if clock == "cpu" else self.latency

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timing:
        """Raises pydantic's ValidationError on a malformed record (the caller names the file)."""
        return cls.model_validate(data)
