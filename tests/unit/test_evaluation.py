"""Evaluation semantics on hand-made runs: the rank column is ignored and ties break as trec_eval
breaks them, cut-offs truncate, interpolated precision is not exposed. (Against trec_eval's own
expected outputs: tests/contract/test_conformance.py.)"""

from __future__ import annotations

import pytest

from harness.evaluation.measures import evaluate, parse_measure


def test_rank_column_is_ignored_and_ties_break_by_docid_descending() -> None:
    from harness.records import Run, ScoredDoc

    qrels = {"q": {"a": 1}}
    # Equal scores: trec_eval ranks 'b' above 'a' (doc id descending), whatever the rank column says.
    run = Run({"q": [ScoredDoc("a", 1.0), ScoredDoc("b", 1.0)]})
    ev = evaluate(qrels, run, ["RR"])
    assert ev.per_query["RR"]["q"] == 0.5


def test_rr_at_cutoff_truncates_the_ranking() -> None:
    from harness.records import Run, ScoredDoc

    qrels = {"q": {"d3": 1}}
    run = Run({"q": [ScoredDoc(f"d{i}", 10.0 - i) for i in range(5)]})
    ev = evaluate(qrels, run, ["RR@3", "RR@4", "RR"])
    assert ev.per_query["RR@3"]["q"] == 0.0
    assert ev.per_query["RR@4"]["q"] == 0.25
    assert ev.per_query["RR"]["q"] == 0.25


def test_interpolated_precision_is_not_exposed() -> None:
    from harness.errors import EvalError

    with pytest.raises(EvalError, match="not computed by this harness"):
        parse_measure("IPrec@0.1")
