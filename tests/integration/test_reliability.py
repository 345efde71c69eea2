"""Cache integrity and sharing: corrupted artefacts are detected and rebuilt; two runs sharing
one cache compute each artefact once and agree."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cache import ArtefactStore
from tests.support import REPO, read_results, subprocess_env, write_spec

# Two processes meet at a barrier, then ask the store for one entry whose computation takes a
# while; each computation appends a line to the log.
_COMPUTE_ONE_ENTRY = """
import sys, time
from pathlib import Path
from harness.cache import ArtefactStore

cache, log, ready = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
(ready / sys.argv[4]).touch()
while len(list(ready.iterdir())) < 2:
    time.sleep(0.01)

def compute():
    with open(log, "a", encoding="utf-8") as fh:
        fh.write("computed\\n")
    time.sleep(0.5)
    return b"artefact", {}

data, _, _ = ArtefactStore(cache).get_or_compute("test-kind", "ab" * 32, compute)
assert data == b"artefact", data
"""


def test_two_processes_compute_one_entry_once(tmp_path: Path) -> None:
    log, ready = tmp_path / "computed.log", tmp_path / "ready"
    ready.mkdir()
    args = [sys.executable, "-c", _COMPUTE_ONE_ENTRY, str(tmp_path / "cache"), str(log), str(ready)]
    procs = [subprocess.Popen([*args, name], env=subprocess_env(), stderr=subprocess.PIPE, text=True) for name in "ab"]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert log.read_text(encoding="utf-8").splitlines() == ["computed"]


@pytest.fixture(scope="module")
def small_collection(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A real 200-document SciFact slice holding the relevant documents of 8 test queries."""
    pytest.importorskip("faiss", reason="needs the dense extra: pip install -e '.[dense,models]'")
    src = data_root / "beir" / "scifact"
    qrels_lines = (src / "qrels" / "test.tsv").read_text().splitlines()[1:]
    judged: dict[str, list[str]] = {}
    for line in qrels_lines:
        q, d, _ = line.split("\t")
        judged.setdefault(q, []).append(d)
    queries = list(judged)[:8]
    wanted = {d for q in queries for d in judged[q]}
    docs = []
    with gzip.open(src / "corpus.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            obj = json.loads(line)
            if obj["_id"] in wanted or len(docs) < 200 - len(wanted):
                docs.append(line)
    out = tmp_path_factory.mktemp("slice")
    (out / "qrels").mkdir()
    (out / "corpus.jsonl").write_text("".join(docs))
    qtext = {json.loads(x)["_id"]: x for x in (src / "queries.jsonl").read_text().splitlines()}
    (out / "queries.jsonl").write_text("".join(qtext[q] + "\n" for q in queries))
    rows = [ln for ln in qrels_lines if ln.split("\t")[0] in queries]
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return out


def _spec(tmp_path: Path, collection: Path) -> Path:
    return write_spec(
        tmp_path,
        f"name: dense-slice\ndatasets: [{{path: {collection}, split: test}}]\nmeasures: [nDCG@10, R@100]\n"
        "latency: {mode: 'off'}\n"
        "systems:\n  minilm-hnsw: {type: dense, model: all-MiniLM-L6-v2, index: hnsw, efSearch: 64, depth: 100}\n",
        "dense.yaml",
    )


# Runs `python -m harness` with a spy on the artefact store: each compute function the store
# calls first appends [kind, key] to $COMPUTED_LOG (one short O_APPEND write: lines from
# concurrent runs do not interleave). The store keeps no such log; the test counts from outside.
_COUNTING_HARNESS = """
import json, os, runpy
from harness.cache import ArtefactStore

real = ArtefactStore.get_or_compute
real_folder = ArtefactStore.folder_or_build

def log(kind, key):
    with open(os.environ["COMPUTED_LOG"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps([kind, key]) + "\\n")

def counted(self, kind, key, compute):
    def spied():
        log(kind, key)
        return compute()
    return real(self, kind, key, spied)

def counted_folder(self, kind, key, build):
    def spied(folder):
        log(kind, key)
        return build(folder)
    return real_folder(self, kind, key, spied)

ArtefactStore.get_or_compute = counted
ArtefactStore.folder_or_build = counted_folder
runpy.run_module("harness", run_name="__main__", alter_sys=True)
"""


def _computed(cache: Path) -> list[tuple[str, str]]:
    """(kind, key) of every artefact computed by the runs sharing `cache`, in order."""
    log = cache.parent / f"{cache.name}.computed"
    lines = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    return [(kind, key) for kind, key in map(json.loads, lines)]


def _run(spec: Path, out: Path, cache: Path, *extra: str) -> subprocess.Popen[str]:
    env = subprocess_env(
        HARNESS_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1", COMPUTED_LOG=str(cache.parent / f"{cache.name}.computed")
    )
    return subprocess.Popen(
        [sys.executable, "-c", _COUNTING_HARNESS, "run", str(spec), "-o", str(out), "-q", "--no-report", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def _measures(out: Path) -> dict[str, object]:
    res = read_results(out)
    return {c["system"]: (c["per_query"], (out / c["run_file"]).read_bytes()) for c in res["cells"]}


def test_corrupted_embeddings_and_index_are_detected_and_rebuilt(tmp_path: Path, small_collection: Path) -> None:
    spec, cache = _spec(tmp_path, small_collection), tmp_path / "cache"
    first = _run(spec, tmp_path / "a", cache)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    store = ArtefactStore(cache)
    kinds = {e.kind: e for e in store.entries()}
    assert {"embeddings", "faiss-index"} <= set(kinds)
    # The embeddings are a folder entry (an .npy read memory-mapped), the index a blob.
    for kind, name in (("embeddings", "d/embeddings.npy"), ("faiss-index", "bin")):
        e = kinds[kind]
        blob = cache / kind / e.key[:2] / f"{e.key}.{name}"
        blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])  # truncate
    computed_before = _computed(cache)

    second = _run(spec, tmp_path / "b", cache)
    _, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert err.count("corrupted or truncated") >= 2, err
    rebuilt = _computed(cache)[len(computed_before) :]
    assert ("embeddings", kinds["embeddings"].key) in rebuilt
    assert ("faiss-index", kinds["faiss-index"].key) in rebuilt
    assert _measures(tmp_path / "a") == _measures(tmp_path / "b")


def test_two_concurrent_runs_share_one_cache(tmp_path: Path, small_collection: Path) -> None:
    spec, cache = _spec(tmp_path, small_collection), tmp_path / "cache"
    procs = [_run(spec, tmp_path / name, cache) for name in ("x", "y")]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    computed = _computed(cache)
    assert computed, "nothing was computed"
    assert len(computed) == len(set(computed)), f"an artefact was computed twice: {computed}"
    assert {k for k, _ in computed} >= {"embeddings", "faiss-index"}
    assert _measures(tmp_path / "x") == _measures(tmp_path / "y")
