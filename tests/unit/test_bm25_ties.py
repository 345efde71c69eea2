"""Ties at BM25's cut-off: the top `depth` is settled in trec_eval order (the larger doc id
first), whichever bm25s backend searched and however many documents tie past the hits first
asked for (`TIE_SLACK`). Checked against the tie rule applied by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.records import Query
from harness.systems import StageContext
from harness.systems.bm25 import BM25, TIE_SLACK, BM25Params
from tests.support import memory_dataset

# 300 documents of one length holding the query word once tie; 5 hold it twice and lead.
TIED = {f"t{i:03d}": "apple pear" for i in range(300)}
LEADERS = {f"l{i}": "apple apple" for i in range(5)}
OTHERS = {f"o{i:03d}": "plum pear" for i in range(50)}
DEPTH = 20


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_ties_past_the_slack_are_cut_by_trec_eval_order(backend: str) -> None:
    if backend == "numba":
        pytest.importorskip("numba", reason="the numba extra (part of dev) is not installed")
    assert len(TIED) > DEPTH + 2 * TIE_SLACK  # the tie runs past the first widening too
    ds = memory_dataset({**OTHERS, **TIED, **LEADERS}, {"q": "apple"})
    params = BM25Params.model_validate({"stemmer": None, "stopwords": None, "depth": DEPTH, "backend": backend})
    stage = BM25(params, StageContext(Path("."), Path("."), ds, False))
    stage.prepare()
    hits = stage.search([Query("q", "apple")], None)["q"]
    expected_ids = sorted(LEADERS, reverse=True) + sorted(TIED, reverse=True)[: DEPTH - len(LEADERS)]
    assert [h.doc_id for h in hits] == expected_ids
    assert len({h.score for h in hits[len(LEADERS) :]}) == 1
    assert hits[0].score > hits[-1].score
