"""The bm25 stage against bm25s called directly on the 300 SciFact test queries: the same
documents, the same float scores, zero-scored filler dropped, ties in trec_eval order; per query
as in batch; nDCG@10 0.6762 (the figure the README and the acceptance tests publish)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data.dataset import Dataset
from harness.data.ref import DatasetRef
from harness.data.resolve import load_dataset
from harness.evaluation.measures import evaluate
from harness.records import Run, ScoredDoc
from harness.systems import StageContext
from harness.systems.bm25 import BM25, BM25Params


@pytest.fixture(scope="module")
def scifact(data_root: Path) -> Dataset:
    return load_dataset(DatasetRef(id="beir/scifact", split="test"), data_root)


def _bm25s_run(dataset: Dataset, depth: int) -> Run:
    """bm25s as its README calls it, with the stage's defaults, ranking every document; one
    record per non-zero hit, in trec_eval order, cut at `depth` (so the ties at the cut-off are
    settled by doc id, as the stage settles them whatever bm25s backend it runs)."""
    import bm25s
    import Stemmer

    tok = bm25s.tokenization.Tokenizer(lower=True, stopwords="en", stemmer=Stemmer.Stemmer("english"))
    docs = list(dataset.docs.values())
    texts = [" ".join(t for t in (d.title, d.text) if t) for d in docs]
    ids = tok.tokenize(texts, update_vocab=True, return_as="ids", show_progress=False, allow_empty=False)
    assert all(ids)  # SciFact has no empty document: nothing to leave out
    retriever = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    retriever.index((ids, tok.get_vocab_dict()), create_empty_token=False, show_progress=False)
    queries = list(dataset.queries.values())
    q_ids = tok.tokenize([q.text for q in queries], update_vocab=False, return_as="ids", show_progress=False)
    found, scores = retriever.retrieve(q_ids, k=len(docs), show_progress=False)
    return Run(
        {
            q.query_id: [
                ScoredDoc(docs[int(d)].doc_id, float(s)) for d, s in zip(found[i], scores[i], strict=True) if s > 0
            ]
            for i, q in enumerate(queries)
        }
    ).truncated(depth)


def test_the_stage_returns_bm25s_run_exactly(scifact: Dataset) -> None:
    stage = BM25(BM25Params(), StageContext(Path("."), Path("."), scifact, False))
    stage.prepare()
    queries = list(scifact.queries.values())
    run = stage.search(queries, None)
    assert len(queries) == 300
    expected = _bm25s_run(scifact, 1000)
    assert dict(run) == dict(expected)
    for q in queries[:50]:
        assert stage.search([q], None)[q.query_id] == run[q.query_id]
    ndcg = evaluate(scifact.qrels, run, ["nDCG@10"]).aggregate["nDCG@10"]
    assert ndcg == pytest.approx(0.6762, abs=5e-5)


def _fresh(scifact: Dataset, **params: object) -> BM25:
    stage = BM25(BM25Params.model_validate(params), StageContext(Path("."), Path("."), scifact, False))
    stage.prepare()
    return stage


def test_a_cached_index_answers_exactly_as_the_one_just_built(
    scifact: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.cache import ArtefactStore

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    queries = list(scifact.queries.values())
    cold = _fresh(scifact)
    warm = _fresh(scifact)  # a new stage, as a later run builds it: the index comes from the cache
    assert (cold.costs["cached"], warm.costs["cached"]) == (False, True)
    assert warm.costs["build_s"] == cold.costs["build_s"]  # the cost recorded when it was built
    assert dict(warm.search(queries, None)) == dict(cold.search(queries, None)) == dict(_bm25s_run(scifact, 1000))
    for q in queries[:20]:  # one query alone, through the stored vocabulary
        assert warm.search([q], None)[q.query_id] == cold.search([q], None)[q.query_id]
    # What bm25s bakes into the index is in the key; `depth` (a search-time knob) is not.
    assert _fresh(scifact, depth=10).costs["cached"] is True
    other = _fresh(scifact, k1=1.2)
    assert other.costs["cached"] is False
    assert dict(other.search(queries[:5], None)) != dict(cold.search(queries[:5], None))
    assert [e.kind for e in ArtefactStore().entries()].count("bm25-index") == 2
    # A corrupted entry is discarded with a warning and rebuilt to the same answers.
    data = next(p for p in ArtefactStore().owned_files("bm25-index") if p.name == "data.csc.index.npy")
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    data.write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match="corrupted or truncated"):
        rebuilt = [_fresh(scifact), _fresh(scifact, k1=1.2)]
    assert dict(rebuilt[0].search(queries, None)) == dict(cold.search(queries, None))
    assert dict(rebuilt[1].search(queries[:5], None)) == dict(other.search(queries[:5], None))
