"""Fusion (RRF, CombSUM, CombMNZ, weighted) against hand-computed examples. (The `fuse` and `use`
stages end to end over the replayed TREC DL 2019 runs: tests/integration/test_fusion_dl19.py.)"""

from __future__ import annotations

import math

import pytest

from harness.rank_fusion import combmnz, combsum, fuse, normalise, rrf, weighted
from harness.records import Run, ScoredDoc

# Two tiny runs over one query. A ranks d1 > d2 > d3; B ranks d2 > d4.
A = Run({"q1": [ScoredDoc("d1", 3.0), ScoredDoc("d2", 2.0), ScoredDoc("d3", 1.0)]})
B = Run({"q1": [ScoredDoc("d2", 10.0), ScoredDoc("d4", 5.0)], "q2": [ScoredDoc("d9", 1.0)]})


def scores(run: Run, qid: str = "q1") -> dict[str, float]:
    return {d.doc_id: d.score for d in run[qid]}


def order(run: Run, qid: str = "q1") -> list[str]:
    return [d.doc_id for d in run[qid]]


def test_rrf_hand_computed() -> None:
    fused = rrf([A, B], k=60)
    expected = {"d1": 1 / 61, "d2": 1 / 62 + 1 / 61, "d3": 1 / 63, "d4": 1 / 62}
    assert scores(fused) == pytest.approx(expected, abs=1e-15)
    assert order(fused) == ["d2", "d1", "d4", "d3"]
    # A query only one input answers still gets that input's ranking.
    assert scores(fused, "q2") == pytest.approx({"d9": 1 / 61})


def test_rrf_k_and_weights() -> None:
    fused = rrf([A, B], k=0, weights=[2.0, 1.0])
    assert scores(fused) == pytest.approx({"d1": 2.0, "d2": 2 / 2 + 1.0, "d3": 2 / 3, "d4": 1 / 2})
    # d1 and d2 tie at 2.0: trec_eval order breaks the tie by doc id descending.
    assert order(fused) == ["d2", "d1", "d3", "d4"]


def test_rrf_ranks_follow_trec_eval_tie_breaking() -> None:
    # Tied scores: trec_eval ranks 'b' before 'a' (doc id descending), so 'b' gets rank 1.
    tied = Run({"q": [ScoredDoc("a", 1.0), ScoredDoc("b", 1.0)]})
    assert scores(rrf([tied], k=60), "q") == pytest.approx({"b": 1 / 61, "a": 1 / 62})


def test_normalisations() -> None:
    assert normalise([3.0, 2.0, 1.0], "minmax") == [1.0, 0.5, 0.0]
    assert normalise([4.0, 4.0], "minmax") == [1.0, 1.0]
    assert normalise([3.0, 2.0, 1.0], "zscore") == pytest.approx([math.sqrt(1.5), 0.0, -math.sqrt(1.5)])
    assert normalise([4.0, 4.0], "zscore") == [0.0, 0.0]
    assert normalise([3.0, -1.0], "none") == [3.0, -1.0]
    assert normalise([], "minmax") == []


def test_combsum_minmax_hand_computed() -> None:
    # A -> d1 1, d2 .5, d3 0; B -> d2 1, d4 0.
    fused = combsum([A, B], "minmax")
    assert scores(fused) == pytest.approx({"d1": 1.0, "d2": 1.5, "d3": 0.0, "d4": 0.0})
    assert order(fused) == ["d2", "d1", "d4", "d3"]


def test_combsum_zscore_hand_computed() -> None:
    # A: mean 2, std sqrt(2/3); B: mean 7.5, std 2.5.
    z = math.sqrt(1.5)
    fused = combsum([A, B], "zscore")
    assert scores(fused) == pytest.approx({"d1": z, "d2": 0.0 + 1.0, "d3": -z, "d4": -1.0})
    assert order(fused) == ["d1", "d2", "d4", "d3"]


def test_combmnz_hand_computed() -> None:
    fused = combmnz([A, B], "minmax")
    assert scores(fused) == pytest.approx({"d1": 1.0, "d2": 1.5 * 2, "d3": 0.0, "d4": 0.0})
    raw = combmnz([A, B], "none")
    assert scores(raw) == pytest.approx({"d1": 3.0, "d2": (2.0 + 10.0) * 2, "d3": 1.0, "d4": 5.0})


def test_weighted_convex_hand_computed() -> None:
    fused = weighted([A, B], [0.25, 0.75], "minmax")
    assert scores(fused) == pytest.approx({"d1": 0.25, "d2": 0.125 + 0.75, "d3": 0.0, "d4": 0.0})
    with pytest.raises(ValueError, match="sum to 1"):
        weighted([A, B], [0.5, 0.6])


def test_fuse_truncates_and_selects_queries() -> None:
    fused = fuse("rrf", [A, B], depth=2, queries=["q1", "q3"])
    assert order(fused) == ["d2", "d1"]
    assert list(fused) == ["q1", "q3"]
    assert fused["q3"] == ()
    assert A["q1"][0] == ScoredDoc("d1", 3.0)  # inputs untouched
