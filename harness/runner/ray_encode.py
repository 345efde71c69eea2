"""`executor: ray`, first phase: corpora encoded in shards across the cluster.

Every dense and SPLADE first stage of the plan whose corpus spans more than one shard
(`encode_chunk` documents) and whose encoding is not cached yet is encoded here, before the
indexing tasks (`ray_prepare`): a Ray Data `map_batches` over the missing shard numbers, on a
pool of actors that each load the plan, the dataset and the model once and then encode shard
after shard into the artefact cache (`harness.systems._shards`). The indexing task then
assembles the shards in order into the embeddings the local executor writes.

A shard is deterministic (its documents, their order and so the encoder's batches are fixed by
its number), so where and how often it is encoded does not change its vectors; a worker that
dies mid-shard is restarted by Ray Data and the shard encoded again (an entry is written
atomically, never half). Ray Data restarts a dead actor without limit; an exception the code
raises is not retried, and a harness error from a worker reaches the user as it is. Systems
that share an encoding (a sweep over search parameters) encode it once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from harness.errors import HarnessError
from harness.plan import Plan
from harness.systems import STAGES, StageContext
from harness.systems._shards import KIND, ShardedEncoding, shard_count, shard_key


@dataclass(frozen=True)
class ShardJob:
    """One encoding to shard: the stage that makes it, by dataset position, variant and stage
    position, and the shards it still needs."""

    dataset: int
    dataset_name: str
    variant: str
    stage: int
    threads: int | None
    missing: tuple[int, ...]
    shards: int
    size: int
    docs: int

    def docs_in(self, index: int) -> int:
        """Documents of shard `index` (every shard but the last is full)."""
        return min(self.size, self.docs - index * self.size)


class ShardWorker:
    """A Ray Data actor: the plan, the dataset and the stage built once; the model loaded on its
    first shard and kept for the next."""

    def __init__(self, spec: str, env: dict[str, str], data_root: str, job: ShardJob) -> None:
        from harness.threads import use_threads

        plan, ctx = worker_context(spec, env, data_root, job.dataset)
        cfg = plan.variant(job.variant).stages[job.stage]
        self.stage = STAGES.get(cfg.type)(cfg.params, ctx)
        # The CPUs Ray reserved for the actor, not all the node's: actors share a node.
        self.threads = job.threads or 1
        use_threads(self.threads)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        from harness.systems._shards import encode_shard
        from harness.threads import use_threads

        stage = cast(ShardedEncoding[Any], self.stage)  # jobs are made for such stages only
        metas = [encode_shard(stage, int(i)) for i in batch["shard"]]
        use_threads(self.threads)  # the first shard loaded torch only now
        return {
            "shard": np.asarray(batch["shard"]),
            "docs": np.asarray([m["docs"] for m in metas]),
            "seconds": np.asarray([m["seconds"] for m in metas], dtype=float),
            "host": np.asarray([m.get("host", "") for m in metas]),
        }


def worker_context(spec: str, env: dict[str, str], data_root: str, dataset: int) -> tuple[Plan, StageContext]:
    """In a Ray worker (any node, any cwd): the driver's environment, the plan loaded from its
    absolute path, and the context of its `dataset`-th dataset, without progress bars."""
    from harness.data.resolve import load_dataset
    from harness.plan import load_plan

    os.environ.update(env)
    plan = load_plan(Path(spec), env=dict(os.environ))
    loaded = load_dataset(plan.datasets[dataset], Path(data_root))
    return plan, StageContext(plan.base_dir, Path(data_root), loaded, False)


def pool_size(ray: Any, workers: int | None, cpus_per_actor: int, units: int) -> int:
    """Actors in a pool: `workers` if given, else as many as the cluster's CPUs hold; never
    more than the units of work, never fewer than one."""
    return max(1, min(workers or int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor, units))


def shard_jobs(plan: Plan, data_root: Path) -> list[ShardJob]:
    """The encodings of the plan that span more than one shard and are not cached, once each."""
    from harness.cache import ArtefactStore
    from harness.data.resolve import load_dataset

    store = ArtefactStore()
    jobs: list[ShardJob] = []
    seen: set[str] = set()
    for i, ref in enumerate(plan.datasets):
        dataset = None
        for variant in plan.ordered:
            for s, cfg in enumerate(variant.stages):
                kind = STAGES.get(cfg.type)
                if not (kind.first_stage and issubclass(kind, ShardedEncoding)):
                    continue
                dataset = dataset or load_dataset(ref, data_root)  # a document store: cheap to open
                stage = kind(cfg.params, StageContext(plan.base_dir, data_root, dataset, False))
                key, size = stage.encoding_key(), stage.shard_size()
                count = shard_count(len(dataset.docs), size)
                if key in seen or count < 2 or stage.encoding_cached():
                    continue  # one shard: the indexing task encodes it as a local run would
                seen.add(key)
                missing = tuple(n for n in range(count) if not store.has(KIND, shard_key(key, n, size)))
                threads = cfg.params.thread_count()
                n_docs = len(dataset.docs)
                jobs.append(ShardJob(i, dataset.name, variant.name, s, threads, missing, count, size, n_docs))
    return jobs


def encode_on_ray(
    ray: Any, plan: Plan, data_root: Path, env: dict[str, str], workers: int | None, progress: bool
) -> list[dict[str, Any]]:
    """Encode every job's missing shards on the cluster, a pool of actors per job; one progress
    bar over the documents, fed as the workers finish shards. What ran (for the manifest)."""
    from tqdm import tqdm

    jobs = shard_jobs(plan, data_root)
    todo = sum(j.docs for j in jobs)
    done: list[dict[str, Any]] = []
    with tqdm(total=todo, desc="ray: encoding shards", unit="doc", disable=not progress or not todo) as bar:
        for job in jobs:
            bar.update(job.docs - sum(job.docs_in(n) for n in job.missing))  # stored before
            per_actor = job.threads or 1
            size = pool_size(ray, workers, per_actor, len(job.missing))
            hosts: set[str] = set()
            seconds = 0.0
            if job.missing:
                args = (str(plan.path.resolve()), env, str(data_root.resolve()), job)
                for row in run_pool(ray, ShardWorker, args, [{"shard": n} for n in job.missing], size, per_actor):
                    bar.update(int(row["docs"]))
                    seconds += float(row["seconds"])
                    hosts.add(str(row["host"]))
            done.append(
                {
                    "dataset": job.dataset_name,
                    "system": job.variant,
                    "shards": job.shards,
                    "encoded": len(job.missing),
                    "actors": size if job.missing else 0,
                    "cpus_per_actor": per_actor,
                    "hosts": sorted(hosts),
                    "encode_s": round(seconds, 3),
                }
            )
    return done


def run_pool(
    ray: Any, worker: type, args: tuple[Any, ...], items: list[dict[str, int]], size: int, cpus: int
) -> Iterator[dict[str, Any]]:
    """`worker(*args)` as a pool of `size` Ray Data actors of `cpus` CPUs each, called on one
    item at a time; its answers as they come. A harness error a worker raises is raised here as
    it is (Ray Data wraps it); Ray's own progress bars and per-dataset log lines are off, the
    caller's bar is fed by the answers."""
    context = ray.data.DataContext.get_current()  # imports ray.data, which sets its log levels
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ds = ray.data.from_items(items).map_batches(
        worker,
        fn_constructor_args=args,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=cpus,
    )
    try:
        yield from ds.iter_rows()
    except Exception as exc:
        cause = harness_error(exc)
        if cause is not None:
            raise cause from None
        raise


def harness_error(exc: BaseException) -> HarnessError | None:
    """The harness error a worker raised, inside the exceptions Ray Data wraps it in."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        if isinstance(e, HarnessError):
            return e
        seen.add(id(e))
        todo.extend([e.__cause__, e.__context__, getattr(e, "cause", None)])
    return None
