"""Plan -> cells (dataset x system variant) -> run files, measures -> results.json.

Each finished cell is persisted atomically (run file, then a small cell record, see
`cells`), so an interrupted experiment resumes where it stopped and an unchanged cell is never
recomputed. `pipeline` runs and times one cell.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import __version__
from harness.data.dataset import Dataset
from harness.data.resolve import load_dataset
from harness.data.trec import read_run, write_run
from harness.environment import git_commit, package_versions
from harness.errors import HarnessError
from harness.evaluation.measures import evaluate
from harness.fsutil import Destination, writable_file, writable_folder, write_error
from harness.online.online_records import OnlineDataset
from harness.plan import Plan
from harness.plan.order import dependencies
from harness.records import Run
from harness.results import Cell, Manifest, ResultSet, SystemInfo
from harness.runner.cells import CellFiles, read_cell, run_key, write_cell
from harness.runner.pipeline import run_pipeline
from harness.systems import STAGES, StageContext

__all__ = ["OUTPUT", "RunOptions", "check_destinations", "output_dir", "run_experiment"]

OUTPUT = Destination("the output folder", "choose another folder with -o or the spec's output:")


@dataclass(frozen=True)
class RunOptions:
    data_root: Path
    output: Path
    force: bool = False
    progress: bool = True


def output_dir(plan: Plan, override: Path | None) -> Path:
    if override is not None:
        return override
    if plan.output:
        return Path(plan.output)
    return Path("reports") / plan.name


def check_destinations(plan: Plan, output: Path) -> None:
    """Before any work: the output folder can be written and holds nothing in the way of the
    files a run writes, and so does the artefact cache if a stage of the plan writes to it.
    Raises OutputError / CacheError naming the path and the fix."""
    from harness.cache import ArtefactStore

    writable_folder(output, OUTPUT)
    for name in ("results.json", "per_query.parquet", "report.html", "report.md"):
        writable_file(output / name, OUTPUT)
    for name in ("runs", "cells", "plots"):
        if (output / name).exists() and not (output / name).is_dir():
            raise write_error(output / name, FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST)), OUTPUT)
    if any(STAGES.get(c.type).uses_cache for v in plan.systems for c in v.stages):
        ArtefactStore().check_writable()


@contextlib.contextmanager
def _spec_entry(plan: Plan, line: int | None) -> Iterator[None]:
    """Errors without a place of their own (an unknown model, a dataset id that resolves
    nowhere, a parameter FAISS rejects) point at the spec entry that caused them."""
    try:
        yield
    except HarnessError as exc:
        raise exc.locate(plan.path, line) from None


def _run_dataset(
    plan: Plan, opts: RunOptions, dataset: Dataset, bar: Any, environments: dict[str, dict[str, Any]]
) -> tuple[list[Cell], dict[str, Run]]:
    """Every system of the plan on one dataset, in run order (a system after those it reads);
    the machine fingerprints the cells name are added to `environments`."""
    out = opts.output
    latency = plan.settings.latency
    order = list(dataset.queries)
    runs: dict[str, Run] = {}
    keys: dict[str, str] = {}
    cells: list[Cell] = []
    for variant in plan.ordered:
        bar.set_postfix_str(f"{dataset.name} / {variant.name}")
        ctx = StageContext(plan.base_dir, opts.data_root, dataset, opts.progress, runs=runs)
        files = CellFiles.of(dataset.name, variant.name)
        with _spec_entry(plan, plan.system_line(variant.base)):
            key = run_key(dataset, variant, ctx, [keys.get(d, d) for d in dependencies(variant)])
        rec = None if opts.force else read_cell(out, files, key, latency)
        resumed = rec is not None
        if rec is None:
            with _spec_entry(plan, plan.system_line(variant.base)):
                result = run_pipeline(variant, ctx, latency)
            run: Run = result.run
            # The run file first, then the record naming its sha256: a record never points at a
            # run file that is not completely written (a failed write leaves no record).
            write_run(run, out / files.run, tag=variant.name, query_order=order, dest=OUTPUT)
            rec = write_cell(out, files, key, result.timing, result.environment, OUTPUT)
        else:
            run = read_run(out / files.run)
        environments[str(rec.environment["id"])] = rec.environment
        runs[variant.name] = run
        keys[variant.name] = key
        if sum(1 for v in plan.systems if v.base == variant.base) == 1:
            runs[variant.base] = run
            keys[variant.base] = key
        ev = evaluate(dataset.qrels, run, plan.measures)
        cells.append(
            Cell(
                dataset=dataset.name,
                system=variant.name,
                run_file=rec.run_file,
                run_sha256=rec.run_sha256,
                judged=ev.judged,
                answered=ev.answered,
                aggregate=ev.aggregate,
                per_query={m: dict(v) for m, v in ev.per_query.items()},
                timing=rec.timing,
                resumed=resumed,
            )
        )
        bar.update(1)
    return cells, runs


def _manifest(plan: Plan, opts: RunOptions, executor: dict[str, Any]) -> Manifest:
    return Manifest(
        spec_path=str(plan.path),
        spec=dict(plan.raw),
        spec_hash=plan.spec_hash,
        harness_version=__version__,
        packages=package_versions(),
        git_commit=git_commit(plan.base_dir),
        data_root=str(opts.data_root),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        executor=executor,
    )


def run_experiment(plan: Plan, opts: RunOptions) -> ResultSet:
    from tqdm import tqdm

    check_destinations(plan, opts.output)
    executor: dict[str, Any] = {"type": "local"}
    if plan.settings.executor.type == "ray":
        from harness.runner.ray_prepare import prepare_on_ray

        executor = prepare_on_ray(plan, opts.data_root, {"HARNESS_DATA_ROOT": str(opts.data_root)}, opts.progress)
    datasets: dict[str, dict[str, Any]] = {}
    cells: list[Cell] = []
    environments: dict[str, dict[str, Any]] = {}
    online: dict[str, OnlineDataset] = {}
    total = len(plan.datasets) * len(plan.systems)
    bar = tqdm(total=total, desc=plan.name, unit="cell", disable=not opts.progress, file=sys.stderr)
    for i, ref in enumerate(plan.datasets):
        with _spec_entry(plan, plan.dataset_line(i)):
            dataset = load_dataset(ref, opts.data_root)
        datasets[dataset.name] = dataset.summary()
        done, runs = _run_dataset(plan, opts, dataset, bar, environments)
        cells.extend(done)
        if plan.settings.online is not None:
            from harness.runner.online_phase import simulate_online

            with _spec_entry(plan, plan.lines.at(("online",))):
                online[dataset.name] = simulate_online(plan, dataset, done, runs, opts.progress)
    bar.close()
    spec_order = {v.name: i for i, v in enumerate(plan.systems)}
    ds_order = {n: i for i, n in enumerate(datasets)}
    cells.sort(key=lambda c: (ds_order[c.dataset], spec_order[c.system]))
    results = ResultSet(
        experiment=plan.name,
        manifest=_manifest(plan, opts, executor),
        measures=list(plan.measure_names),
        datasets=datasets,
        settings=plan.settings,
        systems={v.name: SystemInfo(base=v.base, config=v.config(), sweep=dict(v.sweep)) for v in plan.systems},
        cells=cells,
        environment=environments,
        online=online,
    )
    from harness.compare import attach_comparisons

    results = attach_comparisons(results, plan.settings.compare)
    results.save(opts.output, OUTPUT)
    return results
