"""Cross-encoder re-ranking: the cascade, the pair-score cache (a `top` sweep scores each pair
once), real scores on a small TREC DL 2019 slice, and bad configurations through the CLI.

The fast tests use 3 DL19 queries x the replayed BM25 top 20 (60 pairs). The slow ones run the
acceptance settings over whole datasets."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from harness.records import Run, ScoredDoc
from harness.systems.rerank import cascade, pair_key
from tests.conftest import run_cli

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

RUN = "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/bm25-{dataset}.trec"


def test_cascade_reorders_the_head_and_keeps_the_tail_below() -> None:
    cands = [ScoredDoc("a", 9.0), ScoredDoc("b", 8.0), ScoredDoc("c", 7.0), ScoredDoc("d", 6.0), ScoredDoc("e", 5.0)]
    out = Run({"q": cascade(cands, [-3.0, 2.0])})["q"]
    assert [d.doc_id for d in out] == ["b", "a", "c", "d", "e"]
    assert [d.score for d in out] == [2.0, -3.0, -4.0, -5.0, -6.0]
    # Re-scoring everything is a plain re-ranking.
    assert [d.doc_id for d in cascade(cands, [1.0, 2.0, 3.0, 4.0, 5.0])] == ["a", "b", "c", "d", "e"]
    assert cascade([], []) == []


def test_pair_key_is_the_content_of_the_pair() -> None:
    assert pair_key("q", "d") == pair_key("q", "d")
    assert pair_key("q", "d") != pair_key("q ", "d")
    assert pair_key("a\tb", "c") != pair_key("a", "b\tc")


def test_pair_score_cache_round_trip_and_corruption(tmp_path: Path) -> None:
    from harness.systems.rerank import PairScoreCache

    path = tmp_path / "pairs.sqlite3"
    cache = PairScoreCache(path)
    cache.put({"a": (1.5, 0.01), "b": (-2.25, 0.02)})
    assert cache.get(["a", "b", "c"]) == {"a": (1.5, 0.01), "b": (-2.25, 0.02)}
    cache.close()
    assert PairScoreCache(path).get(["a"]) == {"a": (1.5, 0.01)}
    path.write_bytes(b"this is not a database" * 100)
    with pytest.warns(UserWarning, match="corrupted; discarding and rebuilding"):
        rebuilt = PairScoreCache(path)
    assert rebuilt.get(["a"]) == {}
    rebuilt.put({"a": (0.5, 0.01)})
    assert rebuilt.get(["a"]) == {"a": (0.5, 0.01)}


def write_spec(tmp_path: Path, systems: str, first: int = 3) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(
        f"""
name: rerank-slice
datasets:
  - {{id: msmarco/trec-dl/dl19-full, name: dl19, queries: {{first: {first}}}}}
measures: [nDCG@10, R(rel=2)@100]
latency: {{mode: batch, warmup: 0}}
systems:
{systems}
""",
        encoding="utf-8",
    )
    return path


SWEEP = f"""
  bm25: {{type: run, path: "{RUN}", depth: 20}}
  ce:
    - {{type: use, system: bm25, depth: 20}}
    - {{type: rerank, model: ms-marco-MiniLM-L-12-v2, top: [5, 10, 20]}}
"""


def pair_db(cache: Path) -> Path:
    (db,) = (cache / "pair-scores").glob("*.sqlite3")
    return db


def test_top_sweep_scores_each_pair_once_and_rerun_scores_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    spec = write_spec(tmp_path, SWEEP)
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "a"), "-q")
    assert code == 0, err
    with sqlite3.connect(pair_db(cache)) as db:
        assert db.execute("SELECT count(*) FROM scores").fetchone() == (3 * 20,)
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    agg = {c["system"]: c["aggregate"] for c in results["cells"]}
    # BM25 top 20 of the first three DL19 queries, then the int8 MiniLM-L-12 cross-encoder.
    assert agg["bm25"]["nDCG@10"] == pytest.approx(0.4378, abs=5e-5)
    assert agg["ce@top=20"]["nDCG@10"] == pytest.approx(0.5285, abs=5e-4)
    assert agg["ce@top=5"]["nDCG@10"] == pytest.approx(0.4439, abs=5e-4)
    # Docs below `top` keep their places: recall at 100 of every variant equals BM25's.
    assert {round(a["R(rel=2)@100"], 12) for a in agg.values()} == {round(agg["bm25"]["R(rel=2)@100"], 12)}
    cells = {c["system"]: c for c in results["cells"]}
    assert cells["ce@top=10"]["timing"]["stages"][1]["costs"]["precision"] == "int8"

    # A fresh output folder with the warm cache: no new pair is scored, same runs byte for byte.
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "b"), "-q")
    assert code == 0, err
    with sqlite3.connect(pair_db(cache)) as db:
        assert db.execute("SELECT count(*) FROM scores").fetchone() == (60,)
    for name in ("ce@top=5", "ce@top=10", "ce@top=20"):
        a = (tmp_path / "a" / "runs" / "dl19" / f"{name}.trec.gz").read_bytes()
        b = (tmp_path / "b" / "runs" / "dl19" / f"{name}.trec.gz").read_bytes()
        assert a == b, name

    # `harness cache list` shows the pair-score store, and `clear --kind` removes it.
    code, out, err = run_cli("cache", "list")
    assert code == 0, err
    assert "pair-scores" in out
    code, out, err = run_cli("cache", "clear", "--kind", "pair-scores")
    assert code == 0, err
    assert not list((cache / "pair-scores").glob("*.sqlite3"))


def test_cascade_on_one_query_uses_the_models_own_scores(tmp_path: Path, data_root: Path) -> None:
    from harness.data.resolve import load_dataset
    from harness.data.trec import read_run
    from harness.models.encoders import load_cross_encoder
    from harness.models.encoding import EncodeOptions
    from harness.plan import load_plan

    spec = write_spec(tmp_path, SWEEP, first=1)
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "o"), "-q")
    assert code == 0, err
    runs = tmp_path / "o" / "runs" / "dl19"
    bm25 = read_run(runs / "bm25.trec.gz")
    (qid,) = bm25
    d5, d20 = read_run(runs / "ce@top=5.trec.gz")[qid], read_run(runs / "ce@top=20.trec.gz")[qid]
    base = [d.doc_id for d in bm25[qid]]
    # Depth 5: BM25's top 5 re-ordered, then BM25's 6..20 in BM25 order.
    assert sorted(d.doc_id for d in d5[:5]) == sorted(base[:5])
    assert [d.doc_id for d in d5[5:]] == base[5:]
    # Same pair, same score, whatever `top` is.
    top5 = set(base[:5])
    assert {d.doc_id: d.score for d in d5[:5]} == {d.doc_id: d.score for d in d20 if d.doc_id in top5}
    # Scores are the model's logits for (query, title + text), one pair per call.
    ds = load_dataset(load_plan(spec).datasets[0], data_root)
    q = ds.queries[qid]
    model = load_cross_encoder("ms-marco-MiniLM-L-12-v2", EncodeOptions(batch_size=1, max_length=512))
    direct = model.score([(q.text, ds.docs[d.doc_id].default_text()) for d in d20])
    assert [d.score for d in d20] == pytest.approx(direct, abs=1e-6)
    assert direct == sorted(direct, reverse=True)


@pytest.mark.parametrize(
    ("systems", "message"),
    [
        ("  ce: {type: rerank, top: 10}", "needs candidates from a stage before it"),
        (f'  ce: [{{type: run, path: "{RUN}"}}, {{type: rerank, model: all-MiniLM-L6-v2}}]', "cross-encoder"),
        (f'  ce: [{{type: run, path: "{RUN}"}}, {{type: rerank, model: ms-marco-MiniLM-L12-v2}}]', "did you mean"),
        (f'  ce: [{{type: run, path: "{RUN}"}}, {{type: rerank, top: 0}}]', "'top'"),
        (f'  ce: [{{type: run, path: "{RUN}"}}, {{type: rerank, top_k: 10}}]', "unknown key 'top_k'"),
    ],
)
def test_bad_rerank_configurations_exit_2(tmp_path: Path, systems: str, message: str) -> None:
    spec = write_spec(tmp_path, systems)
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "o"), "-q")
    assert code == 2, err
    assert message in err


@pytest.mark.slow
def test_dl19_bm25_top100_reranked_reaches_acceptance(tmp_path: Path) -> None:
    """Acceptance: nDCG@10 >= 0.70 on DL19 with the full judgments (fp32 over these candidates:
    0.7216; published fp32 over the top 1000: 0.7431)."""
    spec = Path(__file__).resolve().parent.parent / "experiments" / "trec-dl-rerank.yaml"
    code, out, err = run_cli("run", str(spec), "-o", str(tmp_path / "o"), "-q")
    assert code == 0, err
    agg = {
        (c["dataset"], c["system"]): c["aggregate"]
        for c in json.loads((tmp_path / "o" / "results.json").read_text())["cells"]
    }
    print(out)
    assert agg[("dl19", "bm25")]["nDCG@10"] == pytest.approx(0.5058, abs=5e-5)
    assert agg[("dl19", "bm25-ce")]["nDCG@10"] >= 0.70
    assert agg[("dl20", "bm25-ce")]["nDCG@10"] > agg[("dl20", "bm25")]["nDCG@10"]


@pytest.mark.slow
def test_scifact_bm25_top100_reranked_on_all_300_queries(tmp_path: Path) -> None:
    """BM25 top 100 -> cross-encoder on the 300 SciFact test queries (30,000 pairs; about 25 min
    on 2 free cores, seconds with a warm pair cache). Measured nDCG@10: BM25 0.6762; top 10
    0.6839, 20 0.6899, 50 0.6767, 100 0.6802. The gain at top 100 (+0.004, 56 wins / 49 losses
    / 195 ties) is not significant (paired t p = 0.78); on the first 100 queries it is a loss
    (0.7225 -> 0.7182), as references.md reports."""
    path = tmp_path / "spec.yaml"
    path.write_text(
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
        encoding="utf-8",
    )
    code, out, err = run_cli("run", str(path), "-o", str(tmp_path / "o"), "-q", "--no-report")
    assert code == 0, err
    print(out)
    cells = json.loads((tmp_path / "o" / "results.json").read_text())["cells"]
    agg = {c["system"]: c["aggregate"] for c in cells}
    assert agg["bm25"]["nDCG@10"] == pytest.approx(0.6762, abs=5e-5)
    expected = {10: 0.6839, 20: 0.6899, 50: 0.6767, 100: 0.6802}
    for top, value in expected.items():
        assert agg[f"bm25-ce@top={top}"]["nDCG@10"] == pytest.approx(value, abs=5e-4)
        assert agg[f"bm25-ce@top={top}"]["R@100"] == pytest.approx(agg["bm25"]["R@100"], abs=1e-12)
    assert agg["bm25-ce@top=100"]["nDCG@10"] > agg["bm25"]["nDCG@10"]
