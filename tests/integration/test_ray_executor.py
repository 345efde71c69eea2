"""`executor: ray` on a real local Ray cluster (2 CPUs, loopback): BM25, a dense model, RRF fusion
and a cross-encoder cascade over a 200-document SciFact slice. The indexing and encoding run as
Ray tasks into an empty cache; the runs are byte-identical to the local executor's and every
measure is equal. Without ray installed, `executor: ray` is one clear line (exit 2)."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.data.dataset import Dataset
from tests.support import assert_one_clear_line, read_results, run_cli, write_spec

SYSTEMS = """systems:
  bm25: {type: bm25, depth: 100}
  minilm: {type: dense, model: all-MiniLM-L6-v2, max_length: 64, batch_size: 64, encode_chunk: 32, depth: 100}
  rrf: {type: fuse, method: rrf, inputs: [bm25, minilm], depth: 100}
  bm25-ce:
    - {type: bm25, depth: 100}
    - {type: rerank, model: ms-marco-MiniLM-L-12-v2, top: 10, max_length: 128}
latency: {mode: batch}
"""


@pytest.fixture(scope="module")
def slice_beir(tmp_path_factory: pytest.TempPathFactory, scifact_slice: Dataset) -> Path:
    """The 200-document SciFact slice as a BEIR folder (its judged queries)."""
    folder = tmp_path_factory.mktemp("slice-beir")
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as fh:
        for d in scifact_slice.docs.values():
            fh.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n")
    lines = [json.dumps({"_id": q.query_id, "text": q.text}) + "\n" for q in scifact_slice.queries.values()]
    (folder / "queries.jsonl").write_text("".join(lines))
    (folder / "qrels").mkdir()
    rows = [f"{q}\t{d}\t{r}" for q, docs in scifact_slice.qrels.items() for d, r in docs.items()]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def ray_cluster() -> Any:
    ray = pytest.importorskip("ray", reason="the ray extra (part of dev) is not installed")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, address="local")
    yield ray
    ray.shutdown()


def _spec(folder: Path, beir: Path, executor: str) -> Path:
    text = f"name: ray-vs-local\ndatasets:\n  - {{path: {beir}, split: test}}\nmeasures: [nDCG@10, R@100]\n"
    return write_spec(folder, text + SYSTEMS + f"executor: {executor}\n", name=f"spec-{executor}.yaml")


def _run_in_process(spec: Path, out: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`harness run` in this process (the Ray cluster the fixture started is the one used)."""
    from harness.cli import main

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    assert main(["run", str(spec), "-o", str(out), "-q", "--no-report"]) == 0
    return read_results(out)


@pytest.fixture(scope="module")
def local(slice_beir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The local executor's output folder and results, with a cache of its own."""
    folder = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:
        return folder / "out", _run_in_process(_spec(folder, slice_beir, "local"), folder / "out", folder / "c", mp)


@dataclass(frozen=True)
class OnCluster:
    """What the Ray tests share: the running cluster, the slice, and the local executor's output."""

    slice_beir: Path
    local_out: Path
    local: dict[str, Any]


@pytest.fixture
def on_cluster(ray_cluster: Any, slice_beir: Path, local: tuple[Path, dict[str, Any]]) -> OnCluster:
    return OnCluster(slice_beir, *local)


def _same_runs(local_out: Path, mine: dict[str, Any], other_out: Path, theirs: dict[str, Any]) -> None:
    assert [c["system"] for c in mine["cells"]] == ["bm25", "minilm", "rrf", "bm25-ce"]
    for a, b in zip(mine["cells"], theirs["cells"], strict=True):
        assert (a["system"], a["run_sha256"]) == (b["system"], b["run_sha256"])
        assert a["aggregate"] == b["aggregate"]
        assert a["per_query"] == b["per_query"]
        assert (local_out / a["run_file"]).read_bytes() == (other_out / b["run_file"]).read_bytes()


def _ray_workers(task: str) -> list[int]:
    """Pids of the Ray worker processes running `task` now (Ray titles them `ray::<task>`)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                title = (proc / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if title.startswith(f"ray::{task}".encode()):
                pids.append(int(proc.name))
    return pids


def test_ray_executor_gives_the_local_runs(
    on_cluster: OnCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = on_cluster
    on_ray = _run_in_process(_spec(tmp_path, c.slice_beir, "ray"), tmp_path / "ray", tmp_path / "c2", monkeypatch)
    assert c.local["manifest"]["executor"] == {"type": "local"}
    ran = on_ray["manifest"]["executor"]
    assert ran["type"] == "ray"
    assert ran["cpus"] == 2.0
    # One task per indexing system: bm25, minilm and bm25-ce's first stage (fusion has none).
    assert sorted(t["system"] for t in ran["tasks"]) == ["bm25", "bm25-ce", "minilm"]
    # minilm's 200 documents are 7 shards of 32, encoded by a pool of 2 Ray Data actors.
    assert ran["shards"] == [
        {
            "dataset": ran["shards"][0]["dataset"],
            "system": "minilm",
            "shards": 7,
            "encoded": 7,
            "actors": 2,
            "cpus_per_actor": 1,
            "hosts": [socket.gethostname()],
            "encode_s": ran["shards"][0]["encode_s"],
        }
    ]
    # The artefacts the tasks wrote are what the driver's cells read: the indexing task
    # assembled the 7 shards the workers stored (the local run encoded its own 7).
    by_system = {c["system"]: c for c in on_ray["cells"]}
    minilm = by_system["minilm"]["timing"]["stages"][0]["costs"]
    assert (minilm["embeddings_cached"], minilm["shards"], minilm["shards_from_workers"]) == (True, 7, 7)
    local_minilm = {c["system"]: c for c in c.local["cells"]}["minilm"]["timing"]["stages"][0]["costs"]
    assert (local_minilm["shards"], local_minilm["shards_from_workers"]) == (7, 0)
    # bm25-ce's pairs were scored by 2 actors over 4 chunks of its queries; its cell read them all.
    (pairs,) = ran["pairs"]
    assert (pairs["system"], pairs["chunks"], pairs["actors"]) == ("bm25-ce", -(-pairs["queries"] // 8), 2)
    rerank = by_system["bm25-ce"]["timing"]["stages"][1]
    assert rerank["costs"]["pairs_scored"] == 0
    assert by_system["bm25-ce"]["timing"]["batch"]["replayed_s"] > 0  # the workers' seconds, replayed
    local_rerank = {c["system"]: c for c in c.local["cells"]}["bm25-ce"]["timing"]["stages"][1]
    assert local_rerank["costs"]["pairs_scored"] == pairs["queries"] * 10
    # The report says where the work ran and how latency was measured.
    from harness.cli import main

    assert main(["report", str(tmp_path / "ray")]) == 0
    md = (tmp_path / "ray" / "report.md").read_text(encoding="utf-8")
    assert "Executor: a Ray cluster (local: 1 node(s), 2 CPUs)" in md
    assert ": 7 of 7 shards encoded by 2 actor(s) × 1 CPU on " in md
    assert "Then 3 indexing task(s) built" in md
    assert "Then re-rankers’ pair scores were computed across the cluster: bm25-ce on " in md
    assert "each pair counts the seconds it took on its worker" in md
    assert "Latency: Measured in the driver process, one cell at a time, after every Ray task had finished" in md
    assert "Executor: a Ray cluster" in (tmp_path / "ray" / "report.html").read_text(encoding="utf-8")
    assert by_system["bm25"]["timing"]["stages"][0]["cached"] is True
    _same_runs(c.local_out, c.local, tmp_path / "ray", on_ray)


@contextlib.contextmanager
def _kill_once(find: Callable[[], list[int]], after_s: float = 0.0) -> Iterator[list[int]]:
    """While the block runs, SIGKILL the first process `find` names (`after_s` after it is first
    seen); yields the list of pids killed (one, or none if none was found within 2 minutes)."""
    import signal
    import threading
    import time

    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            pids = find()
            if pids:
                time.sleep(after_s)
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.01)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    yield killed
    thread.join()


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's workers through /proc")
def test_a_worker_killed_mid_task_is_retried_and_the_runs_are_the_same(
    on_cluster: OnCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL the first worker seen running an indexing task: Ray re-runs the task on another
    worker, the half-built artefact is never read, and the runs are the local ones."""
    c = on_cluster
    spec = _spec(tmp_path, c.slice_beir, "ray")
    # 0.3 s into the task's work (loading, tokenising, encoding)
    with _kill_once(lambda: _ray_workers("prepare_one"), after_s=0.3) as killed:
        on_ray = _run_in_process(spec, tmp_path / "ray", tmp_path / "c3", monkeypatch)
    assert len(killed) == 1
    assert len(on_ray["manifest"]["executor"]["tasks"]) == 3
    _same_runs(c.local_out, c.local, tmp_path / "ray", on_ray)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's workers through /proc")
def test_a_shard_worker_killed_mid_encoding_is_restarted_and_the_runs_are_the_same(
    on_cluster: OnCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL a Ray Data actor encoding shards once the first shard is stored: Ray restarts it,
    the shard it was encoding is encoded again, every shard still comes from the workers, and
    the runs are the local ones."""
    c, cache = on_cluster, tmp_path / "c5"

    def encoding_actors() -> list[int]:
        return _ray_workers("MapWorker") if list(cache.glob("encoded-shard/*/*.json")) else []

    with _kill_once(encoding_actors) as killed:
        on_ray = _run_in_process(_spec(tmp_path, c.slice_beir, "ray"), tmp_path / "ray", cache, monkeypatch)
    assert len(killed) == 1
    assert on_ray["manifest"]["executor"]["shards"][0]["encoded"] == 7
    minilm = {c["system"]: c for c in on_ray["cells"]}["minilm"]["timing"]["stages"][0]["costs"]
    assert minilm["shards_from_workers"] == 7
    assert not list(cache.glob("encoded-shard/*/*.json"))  # assembled, then discarded
    _same_runs(c.local_out, c.local, tmp_path / "ray", on_ray)


def test_an_interrupted_ray_run_resumes_from_its_finished_cells(
    on_cluster: OnCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the driver while the third cell runs (after the Ray tasks): exit 130; the next
    `harness run` keeps the two finished cells, runs the other two, and the runs are the local ones."""
    import harness.runner as runner
    from harness.cli import main
    from harness.runner.pipeline import run_pipeline as real

    c = on_cluster
    spec, out = _spec(tmp_path, c.slice_beir, "ray"), tmp_path / "ray"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "c4"))

    def interrupted(variant: Any, *args: Any) -> Any:
        if variant.name == "rrf":
            raise KeyboardInterrupt
        return real(variant, *args)

    monkeypatch.setattr(runner, "run_pipeline", interrupted)
    assert main(["run", str(spec), "-o", str(out), "-q", "--no-report"]) == 130
    monkeypatch.setattr(runner, "run_pipeline", real)
    resumed = _run_in_process(spec, out, tmp_path / "c4", monkeypatch)
    assert {c["system"]: c["resumed"] for c in resumed["cells"]} == {
        "bm25": True,
        "minilm": True,
        "rrf": False,
        "bm25-ce": False,
    }
    _same_runs(c.local_out, c.local, out, resumed)


def test_without_ray_the_executor_is_one_clear_line(
    slice_beir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code, _, err = run_cli("run", str(_spec(tmp_path, slice_beir, "ray")), "-o", str(tmp_path / "out"), "-q")
    assert_one_clear_line(code, err, "executor 'ray' needs ray", 'pip install "harness[ray]"')


def test_a_bad_executor_is_refused_at_load(slice_beir: Path, tmp_path: Path) -> None:
    code, _, err = run_cli("run", str(_spec(tmp_path, slice_beir, "spark")), "-o", str(tmp_path / "out"), "-q")
    assert code == 2
    assert "executor" in err
    code, _, err = run_cli(
        "run", str(_spec(tmp_path, slice_beir, "local")), "--executor", "dask", "-o", str(tmp_path / "o2"), "-q"
    )
    assert_one_clear_line(code, err, "--executor 'dask'", "use --executor local or --executor ray")
