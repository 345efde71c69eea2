"""`executor: ray`: the heavy work of a run on a Ray cluster, before the cells are run.

Three phases, each a progress bar:
1. corpora encoded in shards by Ray Data actors (`ray_encode`);
2. a task per dataset x system variant prepares its indexing stages (BM25, dense, SPLADE: those
   that write the artefact cache), at the thread count the cell runs at, so that it writes
   exactly the artefacts a local run would (dense embeddings assembled from the shards);
3. re-rankers' pair scores computed by Ray Data actors over chunks of queries (`ray_pairs`).

The driver then runs every cell as the local executor does, one at a time, reading those
artefacts: the runs are the local runs, and latency is measured in this process with nothing
else running, never beside a Ray task. The cache must be a path every node can reach (a shared
file system): its file locks make each artefact built once however many workers ask for it.

A task that fails with a harness error (a bad model, a corpus with a duplicate id) fails the run
with that error; a worker that dies is retried by Ray (`max_retries`), and a half-written
artefact is never read (the cache writes atomically).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import SpecError, first_line
from harness.network import unreachable
from harness.plan import Plan
from harness.runner.ray_encode import encode_on_ray, harness_error, worker_context
from harness.runner.ray_pairs import score_pairs_on_ray
from harness.sections import ExecutorConfig
from harness.systems import STAGES

RETRIES = 3
"""Times Ray re-runs a task whose worker died (a killed process, a lost node)."""


@dataclass(frozen=True)
class PrepareTask:
    """One task: a dataset of the plan and a system variant, by position and name."""

    dataset: int
    variant: str
    threads: int | None


def tasks(plan: Plan) -> list[PrepareTask]:
    """A task for each dataset x variant with a stage that writes the artefact cache as it is
    prepared (a first-stage retriever); fusion, `use`, replayed runs and re-rankers have none."""
    out = []
    for i in range(len(plan.datasets)):
        for variant in plan.ordered:
            kinds = [STAGES.get(c.type) for c in variant.stages]
            if any(k.first_stage and k.uses_cache for k in kinds):
                out.append(PrepareTask(i, variant.name, variant.thread_count()))
    return out


def prepare_one(spec: str, env: dict[str, str], data_root: str, task: PrepareTask) -> dict[str, Any]:
    """In a Ray worker: load the plan and the dataset, prepare the variant's indexing stages."""
    from harness.threads import use_threads

    t0 = time.perf_counter()
    plan, ctx = worker_context(spec, env, data_root, task.dataset)
    dataset = ctx.dataset
    use_threads(task.threads)
    for cfg in plan.variant(task.variant).stages:
        kind = STAGES.get(cfg.type)
        if kind.first_stage and kind.uses_cache:
            kind(cfg.params, ctx).prepare()
            use_threads(task.threads)  # prepare may have loaded torch or FAISS only now
    return {"dataset": dataset.name, "system": task.variant, "seconds": time.perf_counter() - t0}


def _where(plan: Plan, error: SpecError) -> SpecError:
    """The spec's `executor:` line for an error, when the spec (not the command line) chose Ray."""
    if "executor" in plan.raw:
        error.locate(plan.path, plan.lines.at(("executor",)))
    return error


def _reachable(address: str, plan: Plan) -> None:
    """For a `host:port` or `ray://host:port` address, that something listens there."""
    if address in ("local", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or "/" in host:
        raise _where(
            plan,
            SpecError(
                f"executor: Ray address '{address}' is not host:port, ray://host:port, auto or local",
                hint="e.g. address: 10.0.0.5:6379 (the head node's `ray start --head` address)",
            ),
        )
    why = unreachable(host.strip("[]"), int(port))
    if why is not None:
        raise _where(
            plan,
            SpecError(
                f"executor: cannot reach the Ray cluster at '{address}': {why}",
                hint="start one there with `ray start --head`, check the address and port, or use address: local",
            ),
        )


def _connect(cfg: ExecutorConfig, plan: Plan) -> Any:
    try:
        import ray
    except ImportError:
        raise _where(
            plan,
            SpecError(
                "executor 'ray' needs ray, which is not installed",
                hint='pip install "harness[ray]", or run with --executor local',
            ),
        ) from None
    if not ray.is_initialized():  # `local` always starts a new cluster, never joins one by chance
        address = cfg.address or "local"
        _reachable(address, plan)
        try:
            ray.init(address=address, num_cpus=cfg.num_cpus if address == "local" else None, include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = first_line(exc)
            raise _where(
                plan,
                SpecError(
                    f"executor: cannot start or reach the Ray cluster at '{address}': {first}",
                    hint="start one with `ray start --head` (address: auto), or use address: local",
                ),
            ) from None
    return ray


def prepare_on_ray(plan: Plan, data_root: Path, env: dict[str, str], progress: bool) -> dict[str, Any]:
    """Run every indexing task on the cluster `plan`'s executor names; what ran where (for the
    results' manifest). Raises the first task's harness error as it is."""
    from tqdm import tqdm

    cfg = plan.settings.executor
    ray = _connect(cfg, plan)
    todo = tasks(plan)
    keep = {k: v for k, v in os.environ.items() if k.startswith(("HARNESS_", "HF_", "NUMBA_"))}
    run_env = {**keep, **env}
    remote = ray.remote(max_retries=RETRIES)(prepare_one)
    t0 = time.perf_counter()
    shards = encode_on_ray(ray, plan, data_root, run_env, cfg.workers, progress)
    # Absolute paths: a worker, on another node or in Ray's session folder, has another cwd.
    pending = [
        remote.options(num_cpus=t.threads or 1, runtime_env={"env_vars": run_env}).remote(
            str(plan.path.resolve()), run_env, str(data_root.resolve()), t
        )
        for t in todo
    ]
    done: list[dict[str, Any]] = []
    with tqdm(total=len(pending), desc="ray: indexing and encoding", unit="task", disable=not progress) as bar:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                done.append(ray.get(ready[0]))
            except ray.exceptions.RayTaskError as exc:
                cause = harness_error(exc)
                if cause is not None:
                    raise cause from None
                raise
            bar.update(1)
    pairs = score_pairs_on_ray(ray, plan, data_root, run_env, cfg.workers, progress)
    resources = ray.cluster_resources()
    return {
        "type": "ray",
        "address": cfg.address or "local",
        "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
        "cpus": resources.get("CPU"),
        "shards": shards,
        "tasks": done,
        "pairs": pairs,
        "wall_s": round(time.perf_counter() - t0, 3),
        "timing": "cells run and timed in the driver process, one at a time, after the Ray phases",
    }
