"""Compose a system's stages over one dataset, timing indexing and query-time work apart.

Order of work for one cell:

1. offline: every stage's `prepare` (indexing, encoding, loading), timed, with the RSS growth
   and whatever costs the stage recorded in `Stage.costs` (cached artefacts report the cost
   recorded when they were computed);
2. warm-up: the first `warmup` queries, each alone through the whole pipeline, not timed;
3. batch: all queries at once through each stage; this pass produces the run, and its time
   gives the throughput (queries/s);
4. per query: each query alone through the pipeline (as a search service sees it), each stage
   timed with `time.perf_counter`; every sample is kept. The pass is judged for noise and
   re-timed when the machine was busy (harness.runner.per_query).

A stage that serves a call from a cache reports the seconds that work took when it was
computed in `Stage.replayed_s`; they are added to the measured time of the call (batch and
per query) and totalled per stage as `replayed_ms`, so cached work is neither free nor hidden.
Stage costs (`Stage.costs`) are read after all passes.

The result's `timing` is a typed `harness.timing.Timing`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.environment import current_rss_bytes, environment, peak_rss_bytes
from harness.errors import SystemConfigError
from harness.plan.order import dependencies
from harness.plan.variants import SystemVariant
from harness.records import Query, Run
from harness.runner.per_query import quiet, time_queries
from harness.sections import LatencyConfig
from harness.systems import STAGES, RetrieverParams, Stage, StageContext
from harness.threads import thread_counts, use_threads
from harness.timing import BatchTiming, LatencyStats, MemoryUse, OfflineCost, PartTiming, StageTiming, Timing


@dataclass
class _StageClock:
    """A stage's measurements while the pipeline runs (frozen into a StageTiming at the end)."""

    type: str
    prepare_s: float
    search_s: float = 0.0
    costs: dict[str, Any] = field(default_factory=dict)
    rss_delta_bytes: int | None = None
    samples_ms: list[float] = field(default_factory=list)
    parts_ms: list[dict[str, float]] = field(default_factory=list)
    """Per timed query: wall ms of each step the stage timed apart (`Stage.part`)."""


@dataclass(frozen=True)
class PipelineOutput:
    run: Run
    timing: Timing
    environment: dict[str, Any]
    """The machine fingerprint `timing.environment_id` names (stored once per result set)."""


def _drop_identical(run: Run) -> Run:
    return Run({q: [d for d in docs if d.doc_id != q] for q, docs in run.items()})


def _r(x: float, digits: int = 4) -> float:
    return round(x, digits)


class _Pipeline:
    def __init__(self, variant: SystemVariant, ctx: StageContext) -> None:
        self.stages: list[Stage] = []
        self.drop_identical: list[bool] = []
        for i, cfg in enumerate(variant.stages):
            cls = STAGES.get(cfg.type)
            if i == 0 and not cls.first_stage:
                raise SystemConfigError(
                    f"system '{variant.base}': '{cfg.type}' needs candidates from a stage before it",
                    hint="start the pipeline with a retriever such as bm25 or run",
                )
            self.stages.append(cls(cfg.params, ctx))
            self.drop_identical.append(isinstance(cfg.params, RetrieverParams) and cfg.params.ignore_identical_ids)
        if not self.stages:
            raise SystemConfigError(f"system '{variant.name}' has no stages")

    def search(
        self,
        queries: Sequence[Query],
        seconds: list[float] | None = None,
        replayed: list[float] | None = None,
        parts: list[dict[str, list[float]]] | None = None,
    ) -> Run:
        """Run the queries through every stage; add each stage's seconds to `seconds`, of which
        the seconds it replayed from a cache (recorded when computed) also to `replayed`, and
        the steps it timed apart to `parts` (name -> [wall, CPU] seconds)."""
        previous: Run | None = None
        for i, stage in enumerate(self.stages):
            stage.replayed_s = 0.0
            stage.parts = {}
            t0 = time.perf_counter()
            previous = stage.search(queries, previous)
            if self.drop_identical[i]:
                previous = _drop_identical(previous)
            elapsed = time.perf_counter() - t0
            extra = stage.replayed_s
            if seconds is not None:
                seconds[i] += elapsed + extra
            if replayed is not None:
                replayed[i] += extra
            if parts is not None:
                parts[i] = stage.parts
        if previous is None:  # unreachable: __init__ refuses an empty pipeline
            raise SystemConfigError("pipeline produced no run")
        return previous


def _json_costs(costs: Any) -> dict[str, Any]:
    import json

    if not isinstance(costs, Mapping):
        return {}
    out: dict[str, Any] = {}
    for k, v in costs.items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            v = repr(v)
        out[str(k)] = v
    if "cached" in out:
        out["cached"] = bool(out["cached"])
    return out


def _prepare(pipe: _Pipeline, variant: SystemVariant) -> list[_StageClock]:
    """Every stage's offline work, timed, with the resident memory it added."""
    clocks: list[_StageClock] = []
    for stage, stage_cfg in zip(pipe.stages, variant.stages, strict=True):
        before = current_rss_bytes()
        t0 = time.perf_counter()
        stage.prepare()
        prepare_s = time.perf_counter() - t0
        after = current_rss_bytes()
        delta = (after - before) if before is not None and after is not None else None
        clocks.append(_StageClock(type=stage_cfg.type, prepare_s=prepare_s, rss_delta_bytes=delta))
    return clocks


def _parts(per_query: list[dict[str, float]]) -> dict[str, PartTiming]:
    """Each step's per-query samples (0 for a query that skipped it) and their statistics."""
    names = dict.fromkeys(name for steps in per_query for name in steps)
    out: dict[str, PartTiming] = {}
    for name in names:
        samples = tuple(steps.get(name, 0.0) for steps in per_query)
        out[name] = PartTiming(latency=LatencyStats.of(samples), samples_ms=samples)
    return out


def _stage_timings(clocks: list[_StageClock], replayed_ms: list[float]) -> tuple[StageTiming, ...]:
    return tuple(
        StageTiming(
            type=t.type,
            prepare_s=_r(t.prepare_s, 6),
            search_s=_r(t.search_s, 6),
            costs={k: v for k, v in t.costs.items() if k != "cached"},
            cached=bool(t.costs.get("cached", False)),
            rss_delta_bytes=t.rss_delta_bytes,
            replayed_ms=_r(replayed_ms[i]),
            latency=LatencyStats.of(t.samples_ms),
            samples_ms=tuple(t.samples_ms),
            parts=_parts(t.parts_ms),
        )
        for i, t in enumerate(clocks)
    )


def run_pipeline(variant: SystemVariant, ctx: StageContext, cfg: LatencyConfig) -> PipelineOutput:
    """Prepare every stage, produce the run in one batch pass, and time it as `cfg` says."""
    queries = list(ctx.dataset.queries.values())
    pipe = _Pipeline(variant, ctx)
    threads = variant.thread_count()
    use_threads(threads)  # every runtime of the cell at one count, before any work
    rss_start = current_rss_bytes()
    clocks = _prepare(pipe, variant)
    use_threads(threads)  # again: `prepare` may have loaded torch or FAISS only now

    warmup = min(cfg.warmup, len(queries)) if cfg.mode != "off" else 0
    with quiet(pipe.stages):
        for q in queries[:warmup]:
            pipe.search([q])

    batch_s = [0.0] * len(pipe.stages)
    batch_replayed = [0.0] * len(pipe.stages)
    t0 = time.perf_counter()
    run = pipe.search(queries, batch_s, batch_replayed)
    batch_total = time.perf_counter() - t0 + sum(batch_replayed)
    for clock, sec in zip(clocks, batch_s, strict=True):
        clock.search_s = sec

    timed, noise = time_queries(pipe.stages, pipe.search, queries, cfg)
    for i, clock in enumerate(clocks):
        clock.samples_ms, clock.parts_ms = timed.stage_ms[i], timed.parts_ms[i]
    for clock, stage in zip(clocks, pipe.stages, strict=True):  # after search, which may add to them
        clock.costs = _json_costs(stage.costs)
    stages = _stage_timings(clocks, timed.replayed_ms)
    env = environment()
    timing = Timing(
        config=cfg,
        queries=len(queries),
        offline=OfflineCost(
            prepare_s=_r(sum(t.prepare_s for t in clocks), 6),
            build_s=_r(sum(float(t.costs.get("build_s", t.prepare_s)) for t in clocks), 6),
            cached=any(s.cached for s in stages),
        ),
        batch=BatchTiming(
            queries=len(queries),
            seconds=_r(batch_total, 6),
            qps=_r(len(queries) / batch_total, 3) if batch_total > 0 else None,
            replayed_s=_r(sum(batch_replayed), 6),
        ),
        latency=LatencyStats.of(timed.wall_ms),
        depends_on=tuple(dict.fromkeys(dependencies(variant))),
        query_ids=tuple(timed.query_ids),
        samples_ms=tuple(timed.wall_ms),
        cpu_latency=LatencyStats.of(timed.cpu_ms),
        cpu_samples_ms=tuple(timed.cpu_ms),
        encode_samples_ms=tuple(timed.encode_ms) if any(timed.encode_ms) else (),
        encode_cpu_samples_ms=tuple(timed.encode_cpu_ms) if any(timed.encode_ms) else (),
        stages=stages,
        memory=MemoryUse(peak_rss_bytes=peak_rss_bytes(), rss_start_bytes=rss_start, rss_end_bytes=current_rss_bytes()),
        threads=thread_counts(),
        environment_id=str(env["id"]),
        noise=noise,
    )
    return PipelineOutput(run, timing, env)
