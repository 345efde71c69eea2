"""BM25 and empty text: an empty document (or one of stopwords only) has no terms, so, as in
Lucene, it is left out of N and of the average document length and never matches; a query with
no indexed term gets an empty ranking. Checked against BM25 computed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.records import Query
from harness.systems import StageContext
from harness.systems.bm25 import BM25, BM25Params
from tests.support import memory_dataset

K1, B = 0.9, 0.4
TEXTS = {"d1": "apple banana apple", "d2": "banana cherry", "d5": "cherry"}
EMPTY = {"d3": "", "d4": "the of and", "d6": "   "}
QUERIES = {"q-banana": "banana", "q-both": "apple cherry", "q-stop": "the and of", "q-unknown": "zebra"}


def _stage(texts: dict[str, str], queries: dict[str, str] = QUERIES) -> BM25:
    ds = memory_dataset(texts, queries)
    params = BM25Params.model_validate({"k1": K1, "b": B, "stemmer": None, "stopwords": "en"})
    stage = BM25(params, StageContext(Path("."), Path("."), ds, False))
    stage.prepare()
    return stage


def _lucene(tf: int, dl: int, df: int, n_docs: int, avgdl: float) -> float:
    idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + K1 * (1 - B + B * dl / avgdl))


def _scores(stage: BM25, query: str) -> dict[str, float]:
    run = stage.search([Query(query, QUERIES[query])], None)
    return {d.doc_id: d.score for d in run[query]}


def test_hand_computed_scores_with_empty_documents() -> None:
    stage = _stage({**TEXTS, **EMPTY})
    # Non-empty documents: d1 (3 terms), d2 (2), d5 (1): N = 3, avgdl = 6 / 3 = 2. bm25s' placeholder
    # token would have made it N = 6, avgdl = (3 + 2 + 1 + 1 + 1 + 1) / 6 = 1.5.
    n_docs, avgdl = 3, (3 + 2 + 1) / 3
    assert stage.retriever.scores["num_docs"] == n_docs
    assert stage.costs["empty_docs"] == 3
    banana = _scores(stage, "q-banana")
    assert banana == pytest.approx(
        {"d1": _lucene(1, 3, 2, n_docs, avgdl), "d2": _lucene(1, 2, 2, n_docs, avgdl)}, rel=1e-6
    )
    both = _scores(stage, "q-both")
    assert both == pytest.approx(
        {
            "d1": _lucene(2, 3, 1, n_docs, avgdl),
            "d2": _lucene(1, 2, 2, n_docs, avgdl),
            "d5": _lucene(1, 1, 2, n_docs, avgdl),
        },
        rel=1e-6,
    )


def test_empty_documents_change_no_score() -> None:
    with_empty, without = _stage({**EMPTY, **TEXTS}), _stage(TEXTS)
    queries = [Query(q, t) for q, t in QUERIES.items()]
    a, b = with_empty.search(queries, None), without.search(queries, None)
    for q in QUERIES:
        assert [(d.doc_id, d.score) for d in a[q]] == [(d.doc_id, d.score) for d in b[q]]
        assert not {d.doc_id for d in a[q]} & set(EMPTY)


def test_empty_query_gets_an_empty_ranking_and_is_counted() -> None:
    stage = _stage({**TEXTS, **EMPTY})
    assert "empty_queries" not in stage.costs
    run = stage.search([Query(q, t) for q, t in QUERIES.items()], None)
    assert run["q-stop"] == ()
    assert run["q-unknown"] == ()
    assert len(run["q-banana"]) == 2
    # The per-query timing pass searches the same queries again: each is counted once.
    stage.search([Query("q-stop", QUERIES["q-stop"])], None)
    assert stage.costs["empty_queries"] == 2


def test_corpus_of_empty_documents_retrieves_nothing() -> None:
    stage = _stage(EMPTY)
    run = stage.search([Query(q, t) for q, t in QUERIES.items()], None)
    assert all(run[q] == () for q in QUERIES)
    assert stage.costs["empty_docs"] == len(EMPTY)
