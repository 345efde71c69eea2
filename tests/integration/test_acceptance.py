"""Acceptance on whole datasets, marked slow (10-60 minutes each; `pytest -m slow` runs them):
the published or measured numbers of MiniLM (exact and the HNSW/IVF sweeps), SPLADE-tiny, RRF of
BM25 and MiniLM on SciFact, and the cross-encoder over BM25 on DL19/DL20 and SciFact."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from harness.cache import default_root
from harness.data.ref import DatasetRef
from harness.data.resolve import load_dataset
from harness.evaluation.measures import evaluate, parse_measures
from harness.systems import StageContext
from harness.systems.dense import Dense, DenseParams
from harness.systems.sparse import Splade, SpladeParams
from tests.support import REPO, aggregates, read_results, run_cli, write_spec

pytestmark = pytest.mark.usefixtures("data_root")  # every test runs on the shared data

SPLADE_NDCG10, SPLADE_R100 = 0.6466, 0.8980  # measured on the full test split (max_length 512, depth 1000)

needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("tokenizers") is None,
    reason="the cross-encoder needs the onnx extra: pip install -e '.[onnx]'",
)


@pytest.fixture
def shared_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full-corpus embeddings are worth keeping: use the user's cache (or $HARNESS_SLOW_CACHE_DIR)."""
    monkeypatch.delenv("HARNESS_CACHE_DIR", raising=False)
    root = os.environ.get("HARNESS_SLOW_CACHE_DIR") or str(default_root())
    monkeypatch.setenv("HARNESS_CACHE_DIR", root)


# --- dense retrieval: all-MiniLM-L6-v2 ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("shared_cache")
def test_minilm_exact_reproduces_mteb_on_scifact(data_root: Path) -> None:
    ds = load_dataset(DatasetRef(id="beir/scifact", split="test"), data_root)
    ctx = StageContext(Path("."), data_root, ds, False)
    measures = parse_measures(["nDCG@10", "R@100"])
    found = {}
    for precision in ("fp32", "bf16", "int8"):
        stage = Dense(DenseParams(model="all-MiniLM-L6-v2", index="flat", depth=1000, precision=precision), ctx)
        stage.prepare()
        ev = evaluate(ds.qrels, stage.search(list(ds.queries.values()), None), measures)
        assert ev.judged == 300
        found[precision] = ev.aggregate
    assert found["fp32"]["nDCG@10"] == pytest.approx(0.64508, abs=0.003)  # MTEB
    assert found["fp32"]["R@100"] == pytest.approx(0.925, abs=0.01)
    # Measured: fp32 0.6451, bf16 0.6466 (the default), int8 0.6454 (per-token activation
    # scales; one scale per tensor gave 0.6522). The issue's tolerance is 0.002 of fp32's.
    assert found["bf16"]["nDCG@10"] == pytest.approx(found["fp32"]["nDCG@10"], abs=0.002)
    assert found["int8"]["nDCG@10"] == pytest.approx(found["fp32"]["nDCG@10"], abs=0.002)


@pytest.mark.slow
@pytest.mark.usefixtures("shared_cache")
def test_hnsw_and_ivf_sweeps_approach_exact_on_scifact(data_root: Path) -> None:
    """experiments/scifact-dense.yaml's sweeps: nDCG@10 grows towards exact search."""
    ds = load_dataset(DatasetRef(id="beir/scifact", split="test"), data_root)
    queries = list(ds.queries.values())
    ctx = StageContext(Path("."), data_root, ds, False)
    measures = parse_measures(["nDCG@10"])

    def ndcg(**params: Any) -> float:
        stage = Dense(DenseParams.model_validate({"model": "all-MiniLM-L6-v2", "precision": "fp32", **params}), ctx)
        stage.prepare()
        return evaluate(ds.qrels, stage.search(queries, None), measures).aggregate["nDCG@10"]

    exact = ndcg(index="flat", depth=10)
    hnsw = [ndcg(index="hnsw", M=8, efConstruction=40, efSearch=ef, depth=10) for ef in (10, 40, 160)]
    ivf = [ndcg(index="ivf", nlist=128, nprobe=n, depth=100) for n in (1, 4, 16, 128)]
    # Measured: HNSW 0.5739, 0.6229, 0.6384; IVF 0.3461, 0.5092, 0.5956, 0.6451; exact 0.6451.
    assert hnsw == sorted(hnsw)
    assert ivf == sorted(ivf)
    assert hnsw[0] < exact - 0.03
    assert exact - hnsw[-1] < 0.01
    assert ivf[0] < exact - 0.2
    assert ivf[-1] == pytest.approx(exact, abs=1e-4)  # every cell probed: exact search


# --- SPLADE-tiny -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("shared_cache")
def test_splade_tiny_on_scifact(data_root: Path) -> None:
    ds = load_dataset(DatasetRef(id="beir/scifact", split="test"), data_root)
    s = Splade(SpladeParams(depth=1000), StageContext(Path("."), data_root, ds, False))
    s.prepare()
    ev = evaluate(ds.qrels, s.search(list(ds.queries.values()), None), parse_measures(["nDCG@10", "R@100"]))
    assert ev.judged == 300
    assert ev.aggregate["nDCG@10"] == pytest.approx(SPLADE_NDCG10, abs=0.003)
    assert ev.aggregate["R@100"] == pytest.approx(SPLADE_R100, abs=0.005)


# --- fusion ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_rrf_of_bm25_and_minilm_on_scifact_beats_both(tmp_path: Path) -> None:
    """Acceptance: RRF(BM25, all-MiniLM-L6-v2 exact), k=60, on the 300 SciFact test queries.
    Measured: BM25 0.6762 / 0.9127, MiniLM 0.6451 / 0.9250, RRF 0.7149 / 0.9550 (nDCG@10 / R@100)."""
    path = write_spec(
        tmp_path,
        """
name: scifact-rrf
datasets: [beir/scifact/test]
measures: [nDCG@10, R@100]
latency: {mode: batch}
systems:
  bm25: {type: bm25, k1: 0.9, b: 0.4, depth: 1000}
  minilm: {type: dense, model: all-MiniLM-L6-v2, index: flat, depth: 1000, precision: fp32}
  rrf: {type: fuse, method: rrf, k: 60, inputs: [bm25, minilm], depth: 1000}
""",
    )
    code, out, err = run_cli("run", str(path), "-o", str(tmp_path / "out"), "-q", "--no-report")
    assert code == 0, err
    print(out)
    agg = aggregates(tmp_path / "out")
    assert agg["bm25"]["nDCG@10"] == pytest.approx(0.6762, abs=5e-5)
    assert agg["minilm"]["nDCG@10"] == pytest.approx(0.6451, abs=5e-4)
    assert agg["rrf"]["nDCG@10"] == pytest.approx(0.7149, abs=5e-4)
    assert agg["rrf"]["R@100"] == pytest.approx(0.9550, abs=5e-4)
    for measure in ("nDCG@10", "R@100"):
        assert agg["rrf"][measure] > max(agg["bm25"][measure], agg["minilm"][measure])


# --- cross-encoder re-ranking ------------------------------------------------------------------------


@pytest.mark.slow
@needs_onnx
def test_dl19_bm25_top100_reranked_reaches_acceptance(tmp_path: Path) -> None:
    """Acceptance: nDCG@10 >= 0.70 on DL19 with the full judgments (fp32 over these candidates:
    0.7216; published fp32 over the top 1000: 0.7431)."""
    spec = REPO / "experiments" / "trec-dl-rerank.yaml"
    code, out, err = run_cli("run", str(spec), "-o", str(tmp_path / "o"), "-q")
    assert code == 0, err
    agg = {(c["dataset"], c["system"]): c["aggregate"] for c in read_results(tmp_path / "o")["cells"]}
    print(out)
    assert agg[("dl19", "bm25")]["nDCG@10"] == pytest.approx(0.5058, abs=5e-5)
    assert agg[("dl19", "bm25-ce")]["nDCG@10"] >= 0.70
    assert agg[("dl20", "bm25-ce")]["nDCG@10"] > agg[("dl20", "bm25")]["nDCG@10"]


@pytest.mark.slow
@needs_onnx
def test_scifact_bm25_top100_reranked_on_all_300_queries(tmp_path: Path) -> None:
    """BM25 top 100 -> cross-encoder on the 300 SciFact test queries (30,000 pairs; about 25 min
    on 2 free cores, seconds with a warm pair cache). Measured nDCG@10: BM25 0.6762; top 10
    0.6839, 20 0.6899, 50 0.6767, 100 0.6802. The gain at top 100 (+0.004, 56 wins / 49 losses
    / 195 ties) is not significant (paired t p = 0.78); on the first 100 queries it is a loss
    (0.7225 -> 0.7182), as references.md reports."""
    path = write_spec(
        tmp_path,
        """
name: scifact-ce
datasets: [beir/scifact/test]
measures: [nDCG@10, R@100]
latency: {mode: batch}
systems:
  bm25: {type: bm25, k1: 0.9, b: 0.4, depth: 1000}
  bm25-ce:
    - {type: use, system: bm25, depth: 100}
    - {type: rerank, model: ms-marco-MiniLM-L-12-v2, top: [10, 20, 50, 100]}
""",
    )
    code, out, err = run_cli("run", str(path), "-o", str(tmp_path / "o"), "-q", "--no-report")
    assert code == 0, err
    print(out)
    agg = aggregates(tmp_path / "o")
    assert agg["bm25"]["nDCG@10"] == pytest.approx(0.6762, abs=5e-5)
    expected = {10: 0.6839, 20: 0.6899, 50: 0.6767, 100: 0.6802}
    for top, value in expected.items():
        assert agg[f"bm25-ce@top={top}"]["nDCG@10"] == pytest.approx(value, abs=5e-4)
        assert agg[f"bm25-ce@top={top}"]["R@100"] == pytest.approx(agg["bm25"]["R@100"], abs=1e-12)
    assert agg["bm25-ce@top=100"]["nDCG@10"] > agg["bm25"]["nDCG@10"]
