"""`executor: ray`, third phase: cross-encoder pair scores computed across the cluster.

After the indexing tasks (`ray_prepare`), each system whose pipeline re-ranks with a stage that
keeps its pair scores (`Stage.scores_pairs`, `rerank` with `cache: true`) and reads no other
system's run has its queries cut into chunks; a Ray Data `map_batches` over the chunks, on a
pool of actors, runs the whole pipeline on each chunk: the first stage from the indexes the
tasks cached, then the re-ranker, which scores its pairs into the pair-score store in the shared
cache. The cell, run in the driver afterwards, reads those scores: it ranks with the very
scores a local run computes, and its latency is reported as replayed from them (the seconds each
pair took on its worker, scored alone), as a local re-run of a cached re-ranker is.

Systems of a `top` sweep share their pairs: they are run from the largest `top` down, so the
smaller ones find theirs scored. A worker that dies is restarted by Ray Data and its chunk run
again; a pair is stored once, atomically, with its checksum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.plan import Plan
from harness.runner.ray_encode import pool_size, run_pool, worker_context
from harness.systems import STAGES

QUERIES_PER_CHUNK = 8
"""Queries per unit of work: small enough to spread a few hundred queries over many workers,
large enough that an actor's per-call overhead stays small next to scoring 100 pairs a query."""


@dataclass(frozen=True)
class PairJob:
    """One system on one dataset whose re-ranker's pairs the cluster scores."""

    dataset: int
    dataset_name: str
    variant: str
    threads: int | None
    chunks: tuple[tuple[str, ...], ...]
    """Query ids, a chunk per unit of work."""
    top: int


class PairWorker:
    """A Ray Data actor: the plan, the dataset and the variant's stages built and prepared once
    (first-stage index from the cache, the cross-encoder loaded)."""

    def __init__(self, spec: str, env: dict[str, str], data_root: str, job: PairJob) -> None:
        from harness.threads import use_threads

        plan, ctx = worker_context(spec, env, data_root, job.dataset)
        self.dataset = ctx.dataset
        self.job = job
        use_threads(job.threads or 1)  # the CPUs Ray reserved for the actor, not all the node's
        self.stages = [STAGES.get(c.type)(c.params, ctx) for c in plan.variant(job.variant).stages]
        for stage in self.stages:
            stage.prepare()
            use_threads(job.threads or 1)  # prepare may have loaded a runtime only now

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        queries, seconds = [], []
        for index in batch["chunk"]:
            chosen = [self.dataset.queries[q] for q in self.job.chunks[int(index)]]
            t0 = time.perf_counter()
            run = None
            for stage in self.stages:
                run = stage.search(chosen, run)
            seconds.append(time.perf_counter() - t0)
            queries.append(len(chosen))
        return {"chunk": np.asarray(batch["chunk"]), "queries": np.asarray(queries), "seconds": np.asarray(seconds)}


def _top(variant: Any) -> int:
    tops = [int(c.params.model_dump().get("top", 0)) for c in variant.stages if STAGES.get(c.type).scores_pairs]
    return max(tops, default=0)


def pair_jobs(plan: Plan, data_root: Path) -> list[PairJob]:
    """Each dataset x system that re-ranks with stored pair scores and reads no other system's
    run, the largest `top` first."""
    from harness.data.resolve import load_dataset

    jobs: list[PairJob] = []
    for i, ref in enumerate(plan.datasets):
        dataset = None
        for variant in plan.ordered:
            kinds = [(STAGES.get(c.type), c.params) for c in variant.stages]
            if not any(k.scores_pairs and k.caches_pairs(p) for k, p in kinds) or any(p.reads() for _, p in kinds):
                continue
            dataset = dataset or load_dataset(ref, data_root)
            ids = list(dataset.queries)
            chunks = tuple(tuple(ids[s : s + QUERIES_PER_CHUNK]) for s in range(0, len(ids), QUERIES_PER_CHUNK))
            jobs.append(PairJob(i, dataset.name, variant.name, variant.thread_count(), chunks, _top(variant)))
    return sorted(jobs, key=lambda j: (j.dataset, -j.top))


def score_pairs_on_ray(
    ray: Any, plan: Plan, data_root: Path, env: dict[str, str], workers: int | None, progress: bool
) -> list[dict[str, Any]]:
    """Score every job's pairs on the cluster; one progress bar over the queries. What ran."""
    from tqdm import tqdm

    jobs = pair_jobs(plan, data_root)
    done: list[dict[str, Any]] = []
    total = sum(len(q) for j in jobs for q in j.chunks)
    with tqdm(total=total, desc="ray: re-ranking queries", unit="query", disable=not progress or not total) as bar:
        for job in jobs:
            per_actor = job.threads or 1
            size = pool_size(ray, workers, per_actor, len(job.chunks))
            seconds = 0.0
            args = (str(plan.path.resolve()), env, str(data_root.resolve()), job)
            for row in run_pool(ray, PairWorker, args, [{"chunk": n} for n in range(len(job.chunks))], size, per_actor):
                bar.update(int(row["queries"]))
                seconds += float(row["seconds"])
            done.append(
                {
                    "dataset": job.dataset_name,
                    "system": job.variant,
                    "queries": sum(len(c) for c in job.chunks),
                    "chunks": len(job.chunks),
                    "actors": size,
                    "cpus_per_actor": per_actor,
                    "worker_s": round(seconds, 3),
                }
            )
    return done
