"""Cross-encoder re-ranking without a model: the cascade (the head re-ordered, the tail kept below)
and the pair-score cache file. (Real scores through the CLI: tests/integration/test_rerank_dl19.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

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
