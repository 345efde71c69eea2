"""Cross-encoder re-ranking through the CLI: the pair-score cache (a `top` sweep scores each pair
once), real scores on a small TREC DL 2019 slice, and bad configurations.

The tests use 3 DL19 queries x the replayed BM25 top 20 (60 pairs). (The cascade and the cache
file alone: tests/unit/test_rerank.py; the acceptance settings over whole datasets, slow:
tests/integration/test_acceptance.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support import read_results, run_cli, write_spec

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

RUN = "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/bm25-{dataset}.trec"


def _spec(tmp_path: Path, systems: str, first: int = 3) -> Path:
    return write_spec(
        tmp_path,
        f"""
name: rerank-slice
datasets:
  - {{id: msmarco/trec-dl/dl19-full, name: dl19, queries: {{first: {first}}}}}
measures: [nDCG@10, R(rel=2)@100]
latency: {{mode: batch, warmup: 0}}
systems:
{systems}
""",
    )


SWEEP = f"""
  bm25: {{type: run, path: "{RUN}", depth: 20}}
  ce:
    - {{type: use, system: bm25, depth: 20}}
    - {{type: rerank, model: ms-marco-MiniLM-L-12-v2, top: [5, 10, 20]}}
"""


def pair_db(cache: Path) -> Path:
    (db,) = (cache / "pair-scores").glob("*.sqlite3")
    return db


@pytest.mark.usefixtures("data_root")
def test_top_sweep_scores_each_pair_once_and_rerun_scores_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    spec = _spec(tmp_path, SWEEP)
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "a"), "-q")
    assert code == 0, err
    with sqlite3.connect(pair_db(cache)) as db:
        assert db.execute("SELECT count(*) FROM scores").fetchone() == (3 * 20,)
    results = read_results(tmp_path / "a")
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

    spec = _spec(tmp_path, SWEEP, first=1)
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
@pytest.mark.usefixtures("data_root")  # the dataset resolves before the model is checked
def test_bad_rerank_configurations_exit_2(tmp_path: Path, systems: str, message: str) -> None:
    spec = _spec(tmp_path, systems)
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "o"), "-q")
    assert code == 2, err
    assert message in err
