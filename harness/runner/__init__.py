"""Spec -> cells (dataset x system variant) -> run files, measures -> results.json.

Each finished cell is persisted atomically (run file, then a small cell record), so an
interrupted experiment resumes where it stopped and an unchanged cell is never recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness import __version__
from harness.data.dataset import Dataset
from harness.data.ref import DatasetRef
from harness.data.resolve import load_dataset
from harness.data.trec import read_run, write_run
from harness.environment import git_commit, package_versions
from harness.errors import HarnessError
from harness.evaluation.measures import evaluate, parse_measures
from harness.fsutil import atomic_write_text, sha256_file
from harness.names import refuse_slug_collisions, slug
from harness.records import Run
from harness.results import Cell, Manifest, ResultSet, SystemInfo
from harness.sections import LatencyConfig, Settings
from harness.spec import Experiment, SystemVariant
from harness.systems import STAGES, StageContext
from harness.systems._order import dependencies as _dependencies
from harness.systems._order import order_systems
from harness.systems._pipeline import run_pipeline
from harness.timing import Timing


def _absolute(ref: DatasetRef, base: Path) -> DatasetRef:
    update: dict[str, str] = {}
    for key in ("path", "corpus", "topics", "qrels"):
        value = getattr(ref, key)
        if value and not Path(value).expanduser().is_absolute():
            update[key] = str(base / Path(value).expanduser())
    return ref.model_copy(update=update) if update else ref


@dataclass(frozen=True)
class RunOptions:
    data_root: Path
    output: Path
    force: bool = False
    progress: bool = True


def output_dir(exp: Experiment, override: Path | None) -> Path:
    if override is not None:
        return override
    if exp.spec.output:
        return Path(exp.spec.output)
    return Path("reports") / exp.spec.name


@contextlib.contextmanager
def _spec_entry(exp: Experiment, entry: str) -> Iterator[None]:
    """Errors without a place of their own (an unknown model, a dataset id that resolves
    nowhere, a parameter FAISS rejects) point at the spec entry that caused them."""
    try:
        yield
    except HarnessError as exc:
        raise exc.locate(exp.path, exp.lines.get(entry)) from None


def _run_key(dataset: Dataset, variant: SystemVariant, ctx: StageContext, dep_keys: list[str]) -> str:
    inputs = [STAGES.get(c.type)(c.params, ctx).input_fingerprint() for c in variant.stages]
    blob = json.dumps(
        {
            "dataset": dataset.fingerprint,
            "system": variant.config(),
            "inputs": inputs,
            "depends": dep_keys,
            "harness": __version__,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _cached_cell(record_path: Path, key: str, out: Path, latency: LatencyConfig) -> dict[str, Any] | None:
    if not record_path.is_file():
        return None
    try:
        rec = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(rec, dict) or rec.get("run_key") != key:
        return None
    # The run does not depend on how it was timed, but the stored timings do: a changed
    # latency: section re-times the cell (expensive artefacts still come from the cache).
    try:
        timing = Timing.from_dict(rec.get("timing") or {})
    except ValidationError:  # written by another version, or damaged: recompute
        return None
    if timing.config != latency or not isinstance(rec.get("environment"), dict):
        return None
    rec["timing"] = timing
    run_path = out / str(rec.get("run_file", ""))
    if not run_path.is_file() or sha256_file(run_path) != rec.get("run_sha256"):
        return None
    return rec


def _settings(exp: Experiment) -> Settings:
    # Until the typed plan carries them, the sections are validated here in one place.
    return Settings.model_validate(
        {k: getattr(exp.spec, k) for k in ("latency", "compare", "gate", "report") if getattr(exp.spec, k)}
    )


def run_experiment(exp: Experiment, opts: RunOptions) -> ResultSet:
    from tqdm import tqdm

    measures = parse_measures(exp.spec.measures)
    # Distinct names sharing a run file would overwrite (or resume from) each other's runs.
    with _spec_entry(exp, "systems"):
        refuse_slug_collisions([v.name for v in exp.systems], "systems")
    with _spec_entry(exp, "datasets"):
        refuse_slug_collisions([ref.display_name() for ref in exp.spec.datasets], "datasets")
    out = opts.output
    out.mkdir(parents=True, exist_ok=True)
    datasets: dict[str, dict[str, Any]] = {}
    cells: list[Cell] = []
    ordered = order_systems(exp.systems)
    total = len(exp.spec.datasets) * len(exp.systems)
    settings = _settings(exp)
    latency = settings.latency
    environments: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=total, desc=exp.spec.name, unit="cell", disable=not opts.progress, file=sys.stderr)
    for i, ref in enumerate(exp.spec.datasets):
        with _spec_entry(exp, f"datasets/{i}"):
            dataset = load_dataset(_absolute(ref, exp.base_dir), opts.data_root)
        datasets[dataset.name] = dataset.summary()
        order = list(dataset.queries)
        runs: dict[str, Run] = {}
        keys: dict[str, str] = {}
        for variant in ordered:
            bar.set_postfix_str(f"{dataset.name} / {variant.name}")
            ctx = StageContext(exp.base_dir, opts.data_root, dataset, opts.progress, runs=runs)
            with _spec_entry(exp, f"systems/{variant.base}"):
                key = _run_key(dataset, variant, ctx, [keys.get(d, d) for d in _dependencies(variant)])
            rel_run = Path("runs") / slug(dataset.name) / f"{slug(variant.name)}.trec.gz"
            record_path = out / "cells" / slug(dataset.name) / f"{slug(variant.name)}.json"
            rec = None if opts.force else _cached_cell(record_path, key, out, latency)
            resumed = rec is not None
            if rec is None:
                with _spec_entry(exp, f"systems/{variant.base}"):
                    result = run_pipeline(variant, ctx, latency)
                run: Run = result.run
                write_run(run, out / rel_run, tag=variant.name, query_order=order)
                rec = {
                    "run_key": key,
                    "run_file": rel_run.as_posix(),
                    "run_sha256": sha256_file(out / rel_run),
                    "timing": result.timing.to_dict(),
                    "environment": result.environment,
                }
                atomic_write_text(record_path, json.dumps(rec, indent=1) + "\n")
                rec["timing"] = result.timing
            else:
                run = read_run(out / rel_run)
            env = rec["environment"]
            environments[str(env["id"])] = env
            runs[variant.name] = run
            keys[variant.name] = key
            if sum(1 for v in exp.systems if v.base == variant.base) == 1:
                runs[variant.base] = run
                keys[variant.base] = key
            ev = evaluate(dataset.qrels, run, measures)
            cells.append(
                Cell(
                    dataset=dataset.name,
                    system=variant.name,
                    run_file=rec["run_file"],
                    run_sha256=rec["run_sha256"],
                    judged=ev.judged,
                    answered=ev.answered,
                    aggregate=ev.aggregate,
                    per_query={m: dict(v) for m, v in ev.per_query.items()},
                    timing=rec["timing"],
                    resumed=resumed,
                )
            )
            bar.update(1)
    bar.close()
    spec_order = {v.name: i for i, v in enumerate(exp.systems)}
    ds_order = {n: i for i, n in enumerate(datasets)}
    cells.sort(key=lambda c: (ds_order[c.dataset], spec_order[c.system]))
    results = ResultSet(
        experiment=exp.spec.name,
        manifest=Manifest(
            spec_path=str(exp.path),
            spec=dict(exp.raw),
            spec_hash=exp.spec_hash(),
            harness_version=__version__,
            packages=package_versions(),
            git_commit=git_commit(exp.base_dir),
            data_root=str(opts.data_root),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        ),
        settings=settings,
        measures=[m.name for m in measures],
        datasets=datasets,
        systems={v.name: SystemInfo(base=v.base, config=v.config(), sweep=dict(v.sweep)) for v in exp.systems},
        cells=cells,
        environment=environments,
    )
    from harness.compare import attach_comparisons

    results = attach_comparisons(results, settings.compare)
    results.save(out)
    return results
