"""Log a result set to MLflow: one parent run per experiment, one nested run per system variant.

Each variant's run holds:
- its parameters (`stage0.type`, `stage0.k1`, ...; a sweep's values too);
- tags: the git commit, the harness and package versions, each dataset's fingerprint, and the
  measure names as MLflow shows them;
- metrics per dataset: every aggregate measure, the latency percentiles (ms, wall and CPU), the
  batch throughput and every numeric offline cost of every stage;
- its run files as artefacts.

The parent holds results.json, the per-query table and the HTML report (when there is one).

MLflow names allow letters, digits and `_ - . / : space` only, so a measure is renamed:
`nDCG@10` -> `nDCG_at_10`, `AP(rel=2)` -> `AP_rel_2`, each under its dataset (`dl19/nDCG_at_10`);
the run's `harness.measures` tag maps the MLflow names back.

Logging is idempotent: every run carries a `harness.key` tag, a hash of the experiment's spec,
its datasets' fingerprints, every run file's sha256 and every cell's latency statistics (and,
for a nested run, its variant). A key already in the MLflow experiment is not logged again, so
logging the same results twice adds nothing, while results that changed (re-timed ones too)
are logged as new runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import SpecError, first_line
from harness.network import unreachable
from harness.results import ResultSet

KEY_TAG = "harness.key"
_BAD = re.compile(r"[^\w.\- /:]")


@dataclass(frozen=True)
class Logged:
    """What one logging did: the MLflow experiment, the parent run, and the variant runs
    created or found already logged."""

    experiment_id: str
    parent_run_id: str
    created: tuple[str, ...]
    already: tuple[str, ...]

    def line(self, uri: str) -> str:
        """One line on what was logged where."""
        parts = [f"{len(self.created)} system run(s) logged"]
        if self.already:
            parts.append(f"{len(self.already)} already there ({', '.join(self.already)})")
        head = f"mlflow {uri}: experiment {self.experiment_id}, parent run {self.parent_run_id}: "
        return head + "; ".join(parts)


def metric_name(measure: str) -> str:
    """An ir_measures name as MLflow accepts it (`nDCG@10` -> `nDCG_at_10`)."""
    return _BAD.sub("_", measure.replace("@", "_at_")).strip("_")


MISSING = "tracking with MLflow needs mlflow, which is not installed"
INSTALL = 'pip install "harness[mlflow]"'


def ready_to_log(uri: str) -> None:
    """Before a run that will log: mlflow is installed (found, not imported: that takes seconds)
    and an http(s) server answers. SpecError otherwise."""
    import importlib.util
    import sys

    if sys.modules.get("mlflow", 0) is None or importlib.util.find_spec("mlflow") is None:  # None: blocked
        raise SpecError(MISSING, hint=INSTALL)
    check_reachable(uri)


def _mlflow() -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise SpecError(MISSING, hint=INSTALL) from None
    return MlflowClient


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _params(results: ResultSet, variant: str) -> dict[str, str]:
    info = results.systems.get(variant)
    if info is None:
        return {}
    out = {}
    for i, stage in enumerate(info.config):
        for name, value in stage.items():
            out[f"stage{i}.{name}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    out |= {f"sweep.{k}": str(v) for k, v in info.sweep.items()}
    return out


def _metrics(results: ResultSet, variant: str) -> Iterator[tuple[str, float]]:
    for cell in results.cells:
        if cell.system != variant:
            continue
        ds = cell.dataset
        for measure, value in cell.aggregate.items():
            yield f"{ds}/{metric_name(measure)}", value
        timing = cell.timing
        if timing is None:
            continue
        for stat in ("p50", "p95", "p99", "mean"):
            wall, cpu = getattr(timing.latency, stat), getattr(timing.cpu_latency, stat)
            if wall is not None:
                yield f"{ds}/latency_{stat}_ms", wall
            if cpu is not None:
                yield f"{ds}/cpu_latency_{stat}_ms", cpu
        if timing.batch.qps is not None:
            yield f"{ds}/batch_qps", timing.batch.qps
        for i, stage in enumerate(timing.stages):
            costs = {"prepare_s": stage.prepare_s, "search_s": stage.search_s, **stage.costs}
            for name, value in costs.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    yield f"{ds}/stage{i}_{stage.type}/{metric_name(name)}", float(value)


def _tags(results: ResultSet, key: str) -> dict[str, str]:
    m = results.manifest
    tags = {KEY_TAG: key, "harness.experiment": results.experiment, "harness.version": m.harness_version}
    tags |= {"harness.spec_hash": m.spec_hash, "harness.git_commit": m.git_commit or "none"}
    tags |= {f"harness.package.{name}": version for name, version in m.packages.items()}
    tags |= {
        f"harness.dataset.{name}.fingerprint": str(d.get("fingerprint", "")) for name, d in results.datasets.items()
    }
    tags["harness.measures"] = json.dumps({metric_name(x): x for x in results.measures})
    return tags


def _find(client: Any, experiment_id: str, key: str) -> str | None:
    found = client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{key}'", max_results=1)
    return found[0].info.run_id if found else None


def _log_batch(client: Any, run_id: str, metrics: dict[str, float], params: dict[str, str]) -> None:
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    items = [Metric(k, v, now, 0) for k, v in metrics.items()]
    for start in range(0, len(items), 1000):  # MLflow's limits per call
        client.log_batch(run_id, metrics=items[start : start + 1000])
    plist = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(plist), 100):
        client.log_batch(run_id, params=plist[start : start + 100])


def check_reachable(uri: str) -> None:
    """For an http(s) tracking URI, that something listens there; SpecError otherwise."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # a port that is not a number
        why: str | None = str(exc)
    else:
        why = unreachable(parts.hostname or "", port)
    if why is not None:
        raise SpecError(
            f"cannot reach the MLflow tracking server at '{uri}': {why}",
            hint="start it (`mlflow server --host 127.0.0.1 --port 5000`) or check the URI",
        )


def log_results(results: ResultSet, folder: Path, uri: str, experiment: str | None = None) -> Logged:
    """Log `results` (read from `folder`, whose run files and report become artefacts) to the
    MLflow tracking server or store at `uri`, in the experiment named `experiment` (default: the
    harness experiment's name). Anything MLflow refuses is one SpecError naming the URI."""
    client_type = _mlflow()
    check_reachable(uri)
    try:
        return _log(client_type(tracking_uri=uri), results, folder, experiment)
    except Exception as exc:  # MLflow raises its own, requests', sqlalchemy's and OS errors alike
        if isinstance(exc, SpecError):
            raise
        raise SpecError(
            f"MLflow at '{uri}' refused the results: {first_line(exc)[:300]}",
            hint="check the tracking URI (sqlite:///file.db, http://host:port, file:///folder) and its permissions",
        ) from None


def _log(client: Any, results: ResultSet, folder: Path, experiment: str | None) -> Logged:
    name = experiment or results.experiment
    exp = client.get_experiment_by_name(name)
    experiment_id = exp.experiment_id if exp is not None else client.create_experiment(name)
    fingerprints = {n: d.get("fingerprint") for n, d in results.datasets.items()}
    hashes = sorted((c.dataset, c.system, c.run_sha256) for c in results.cells)
    # The latency too: re-timed cells (`--force`) with the same run files are new results.
    timings = sorted((c.dataset, c.system, c.timing.latency.model_dump() if c.timing else None) for c in results.cells)
    parent_key = _key(results.manifest.spec_hash, fingerprints, hashes, timings)
    parent = _find(client, experiment_id, parent_key)
    if parent is None:
        run = client.create_run(experiment_id, run_name=results.experiment, tags=_tags(results, parent_key))
        parent = run.info.run_id
        for file in ("results.json", "per_query.parquet", "report.html", "report.md"):
            if (folder / file).is_file():
                client.log_artifact(parent, str(folder / file))
        client.set_terminated(parent)
    created, already = [], []
    for variant in results.system_names():
        key = _key(parent_key, variant)
        if _find(client, experiment_id, key) is not None:
            already.append(variant)
            continue
        tags = {**_tags(results, key), "mlflow.parentRunId": parent}
        run = client.create_run(experiment_id, run_name=variant, tags=tags)
        run_id = run.info.run_id
        _log_batch(client, run_id, dict(_metrics(results, variant)), _params(results, variant))
        for cell in results.cells:
            if cell.system == variant and (folder / cell.run_file).is_file():
                client.log_artifact(run_id, str(folder / cell.run_file), artifact_path=f"runs/{cell.dataset}")
        client.set_terminated(run_id)
        created.append(variant)
    return Logged(experiment_id, parent, tuple(created), tuple(already))
