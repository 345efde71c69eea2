"""Compose a system's stages over one dataset, timing offline and online work apart."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from harness.errors import SystemConfigError
from harness.records import Run
from harness.spec import SystemVariant
from harness.systems import STAGES, RetrieverParams, StageContext


@dataclass
class StageTiming:
    type: str
    prepare_s: float
    search_s: float


@dataclass
class PipelineOutput:
    run: Run
    stages: list[StageTiming] = field(default_factory=list)


def _drop_identical(run: Run) -> Run:
    return Run({q: [d for d in docs if d.doc_id != q] for q, docs in run.items()})


def run_pipeline(variant: SystemVariant, ctx: StageContext) -> PipelineOutput:
    queries = list(ctx.dataset.queries.values())
    previous: Run | None = None
    timings: list[StageTiming] = []
    for i, cfg in enumerate(variant.stages):
        cls = STAGES.get(cfg.type)
        if i == 0 and not cls.first_stage:
            raise SystemConfigError(
                f"system '{variant.base}': '{cfg.type}' needs candidates from a stage before it",
                hint="start the pipeline with a retriever such as bm25 or run",
            )
        stage = cls(cfg.params, ctx)
        t0 = time.perf_counter()
        stage.prepare()
        t1 = time.perf_counter()
        previous = stage.search(queries, previous)
        t2 = time.perf_counter()
        if isinstance(cfg.params, RetrieverParams) and cfg.params.ignore_identical_ids:
            previous = _drop_identical(previous)
        timings.append(StageTiming(cfg.type, t1 - t0, t2 - t1))
    assert previous is not None  # a variant has at least one stage (checked by the spec)
    return PipelineOutput(previous, timings)
