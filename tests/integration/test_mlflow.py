"""MLflow tracking against the real library: the CI gate's results logged into a SQLite store and
read back with MlflowClient (every metric, parameter, tag and artefact), logged again without
duplicates; `harness run --mlflow` against a real `mlflow server` on loopback, checked through its
REST API; and the one-line errors without mlflow or with a bad `tracking:` section."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.mlflow_log import metric_name
from harness.results import ResultSet
from tests.support import REPO, assert_one_clear_line, run_cli, subprocess_env, write_spec

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra (part of dev) is not installed")

REPLAY = (
    "name: tracked\n"
    "datasets:\n  - {id: msmarco/trec-dl/dl19-full, name: dl19, queries: {first: 8}}\n"
    "measures: [nDCG@10, AP(rel=2)]\n"
    "latency: {warmup: 1}\n"
    "systems:\n"
    '  bm25: {type: run, path: "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/bm25-{dataset}.trec"}\n'
    '  tas-b: {type: run, path: "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/tas-b-{dataset}.trec"}\n'
)


@pytest.fixture(scope="module")
def ci_results(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A fresh run of `experiments/ci-gate.yaml` (what .ci/run gates)."""
    tmp = tmp_path_factory.mktemp("ci-gate")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE_DIR", str(tmp / "cache"))
        spec = str(REPO / "experiments" / "ci-gate.yaml")
        code, _, err = run_cli("run", spec, "-o", str(tmp / "out"), "-q", "--data-root", str(data_root))
    assert code == 0, err
    return tmp / "out"


def _runs(client: Any, experiment: str) -> dict[str, Any]:
    exp = client.get_experiment_by_name(experiment)
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id], max_results=1000)}


def test_ci_gate_results_are_logged_and_read_back_and_logging_again_adds_nothing(
    ci_results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # a SQLite store keeps artefacts in ./mlruns

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, out, err = run_cli("track", str(ci_results), "--mlflow", uri)
    assert code == 0, err
    assert "2 system run(s) logged" in out
    client = MlflowClient(tracking_uri=uri)
    runs = _runs(client, "ci-gate")
    assert set(runs) == {"ci-gate", "bm25", "bm25-k1.2"}
    parent = runs["ci-gate"]
    results = ResultSet.load(ci_results)
    for system in ("bm25", "bm25-k1.2"):
        run = runs[system]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["harness.git_commit"] == (results.manifest.git_commit or "none")
        for name, summary in results.datasets.items():
            assert run.data.tags[f"harness.dataset.{name}.fingerprint"] == summary["fingerprint"]
        assert json.loads(run.data.tags["harness.measures"])["nDCG_at_10"] == "nDCG@10"
        config = results.systems[system].config[0]
        assert run.data.params["stage0.k1"] == str(config["k1"])
        assert run.data.params["stage0.type"] == "bm25"
        metrics = run.data.metrics
        for cell in (c for c in results.cells if c.system == system):
            for measure, value in cell.aggregate.items():
                assert metrics[f"{cell.dataset}/{metric_name(measure)}"] == value
            assert cell.timing is not None
            assert metrics[f"{cell.dataset}/latency_p50_ms"] == cell.timing.latency.p50
            assert metrics[f"{cell.dataset}/cpu_latency_p50_ms"] == cell.timing.cpu_latency.p50
            assert metrics[f"{cell.dataset}/stage0_bm25/prepare_s"] == cell.timing.stages[0].prepare_s
            files = [f.path for f in client.list_artifacts(run.info.run_id, f"runs/{cell.dataset}")]
            assert files == [f"runs/{cell.dataset}/{Path(cell.run_file).name}"]
            got = Path(client.download_artifacts(run.info.run_id, files[0], str(tmp_path / "dl" / system)))
            assert got.read_bytes() == (ci_results / cell.run_file).read_bytes()
    stored = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"results.json", "per_query.parquet", "report.html", "report.md"} <= stored
    back = Path(client.download_artifacts(parent.info.run_id, "results.json", str(tmp_path / "dl" / "parent")))
    assert back.read_bytes() == (ci_results / "results.json").read_bytes()
    # The same results again: found by their keys, nothing added.
    code, out, err = run_cli("track", str(ci_results), "--mlflow", uri)
    assert code == 0, err
    assert "0 system run(s) logged; 2 already there (bm25, bm25-k1.2)" in out
    assert len(_runs(client, "ci-gate")) == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A real `mlflow server` on loopback (SQLite store, artefacts proxied into tmp_path)."""
    port = _free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    argv += ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"]
    argv += ["--artifacts-destination", str(tmp_path / "artefacts")]
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=subprocess_env())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start:\n" + (tmp_path / "server.log").read_text())
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _rest(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def test_a_run_logged_to_a_real_mlflow_server_is_listed_by_its_rest_api(
    mlflow_server: str, tmp_path: Path, data_root: Path
) -> None:
    spec = write_spec(tmp_path, REPLAY)
    code, out, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q", "--mlflow", mlflow_server)
    assert code == 0, err
    assert f"mlflow {mlflow_server}: experiment " in out
    exp = _rest(mlflow_server, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=tracked")["experiment"]
    found = _rest(mlflow_server, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]})
    runs = {r["info"]["run_name"]: r for r in found["runs"]}
    assert set(runs) == {"tracked", "bm25", "tas-b"}
    results = ResultSet.load(tmp_path / "out")
    metrics = {m["key"]: m["value"] for m in runs["tas-b"]["data"]["metrics"]}
    cell = results.cell("dl19", "tas-b")
    assert cell is not None
    assert metrics["dl19/nDCG_at_10"] == cell.aggregate["nDCG@10"]
    assert metrics["dl19/AP_rel_2"] == cell.aggregate["AP(rel=2)"]
    listed = _rest(mlflow_server, f"/api/2.0/mlflow/artifacts/list?run_id={runs['tracked']['info']['run_id']}")
    assert "results.json" in {f["path"] for f in listed["files"]}


def test_without_mlflow_tracking_is_one_clear_line_before_any_work(
    ci_results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.setitem(sys.modules, name, None)  # `import mlflow...` raises ImportError
    spec = write_spec(tmp_path, REPLAY + "tracking: {mlflow: {uri: 'sqlite:///x.db'}}\n")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert_one_clear_line(code, err, f"{spec}:9", "needs mlflow", 'pip install "harness[mlflow]"')
    assert not (tmp_path / "out").exists()
    code, _, err = run_cli("track", str(ci_results), "--mlflow", "sqlite:///x.db")
    assert_one_clear_line(code, err, "needs mlflow", 'pip install "harness[mlflow]"')


def test_a_bad_tracking_section_is_refused_at_load(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, REPLAY + "tracking: {mlflow: {url: 'sqlite:///x.db'}}\n")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert f"{spec}:9" in line
    assert "unknown key 'url'; did you mean 'uri'" in line
    assert not (tmp_path / "out").exists()


def test_a_tracking_server_nothing_answers_at_is_one_line_before_the_run(
    ci_results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    uri = f"http://127.0.0.1:{_free_port()}"
    spec = write_spec(tmp_path, REPLAY)
    t0 = time.perf_counter()
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q", "--mlflow", uri)
    assert_one_clear_line(code, err, f"cannot reach the MLflow tracking server at '{uri}'", "mlflow server")
    assert not (tmp_path / "out").exists()
    code, _, err = run_cli("track", str(ci_results), "--mlflow", uri)
    assert_one_clear_line(code, err, f"cannot reach the MLflow tracking server at '{uri}'")
    code, _, err = run_cli("track", str(ci_results), "--mlflow", "foo://bar")
    assert_one_clear_line(code, err, "MLflow at 'foo://bar' refused the results", "check the tracking URI")
    assert time.perf_counter() - t0 < 30
