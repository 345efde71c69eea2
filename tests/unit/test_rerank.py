"""Cross-encoder re-ranking without a model: the cascade (the head re-ordered, the tail kept below)
and pair keys. (The pair-score store file: tests/unit/test_pair_scores.py; real scores through the
CLI: tests/integration/test_rerank_dl19.py.)"""

from __future__ import annotations

from harness.records import Run, ScoredDoc
from harness.systems.rerank import cascade, pair_key


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
