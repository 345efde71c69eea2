"""Interleaving on hand-built rankings: team-draft's and balanced interleaving's lists and
credit, probabilistic interleaving's marginalised credit against brute-force enumeration, and no
preference between identical rankings."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from harness.online.click_models import build_click_model
from harness.online.interleaving import QueryPair, Shown
from harness.online.interleaving.balanced import Balanced, balanced
from harness.online.interleaving.probabilistic import Probabilistic
from harness.online.interleaving.team_draft import TeamDraft, team_draft
from harness.online.power import stream
from harness.sections import ClickModelConfig

A_WINS, B_WINS = -1, 1


def test_team_draft_hand_built() -> None:
    a, b = ["a", "b", "c", "d"], ["b", "a", "e", "f"]
    # A starts: a; B's best unseen is b; tie again, A starts: c; B: a is shown, so e.
    assert team_draft(a, b, 4, [1, 1]) == (["a", "b", "c", "e"], [-1, 1, -1, 1])
    # B starts: b; A: a; B starts again: e; A: c.
    assert team_draft(a, b, 4, [0, 0]) == (["b", "a", "e", "c"], [1, -1, 1, -1])


def _check_team_draft(a: list[str], b: list[str], docs: list[str], teams: list[int]) -> None:
    assert len(set(docs)) == len(docs)
    for i in range(1, len(docs) + 1):
        # Within one pick of each other at every prefix, while both rankings have new documents.
        left_a = [d for d in a if d not in docs[: i - 1]]
        left_b = [d for d in b if d not in docs[: i - 1]]
        if left_a and left_b:
            assert abs(teams[:i].count(-1) - teams[:i].count(1)) <= 1, (a, b, docs, teams)
        # A team's pick is its ranking's best document not shown yet.
        ranking = a if teams[i - 1] == -1 else b
        assert docs[i - 1] == next(d for d in ranking if d not in docs[: i - 1])


def test_team_draft_constraints_on_random_rankings() -> None:
    rng = random.Random(7)
    pool = [f"d{i}" for i in range(15)]
    for _ in range(300):
        a, b = rng.sample(pool, rng.randint(0, 12)), rng.sample(pool, rng.randint(0, 12))
        flips = [rng.randint(0, 1) for _ in range(5)]
        docs, teams = team_draft(a, b, 10, flips)
        assert len(docs) == min(10, len(set(a) | set(b)))
        _check_team_draft(a, b, docs, teams)


def test_balanced_hand_built_and_credit() -> None:
    a, b = ["a", "b", "c"], ["b", "c", "d"]
    assert balanced(a, b, 4, a_first=True) == ["a", "b", "c", "d"]
    assert balanced(a, b, 4, a_first=False) == ["b", "a", "c", "d"]
    method = Balanced()
    shown = method.show(QueryPair(a, b, {}), 2, 4, np.random.default_rng(0))
    clicks = np.zeros((2, 4), dtype=bool)
    # A click on d (in B's top 3, not in A): k = 3, A scores 0, B scores 1.
    clicks[:, 3] = True
    assert method.credit(shown, clicks).outcome.tolist() == [B_WINS, B_WINS]
    # A click on "a" alone, shown first or second: k = 1 (A's top), B's top 1 is b.
    clicks[:] = False
    first_a = (shown.parts["rank_a"][:, 0] == 0).tolist()
    for row, is_a in enumerate(first_a):
        clicks[row, 0 if is_a else 1] = True
    assert method.credit(shown, clicks).outcome.tolist() == [A_WINS, A_WINS]


def _brute_force(pa: list[float], pb: list[float], clicked: list[bool]) -> float:
    """E[outcome] over every assignment of slots to rankings, weighted by P(list | assignment)."""
    total = expected = 0.0
    for assign in itertools.product((0, 1), repeat=len(pa)):
        w = float(np.prod([pa[i] if s == 0 else pb[i] for i, s in enumerate(assign)]))
        a = sum(1 for i, s in enumerate(assign) if s == 0 and clicked[i])
        b = sum(1 for i, s in enumerate(assign) if s == 1 and clicked[i])
        total += w
        expected += w * np.sign(b - a)
    return expected / total


def test_probabilistic_credit_marginalises_exactly() -> None:
    rng = np.random.default_rng(3)
    pa, pb = rng.random((1, 6)), rng.random((1, 6))
    clicks = np.asarray([[True, False, True, True, False, True]])
    got = Probabilistic().credit(Shown(np.zeros((1, 6), dtype=np.int64), {"p_a": pa, "p_b": pb}), clicks)
    want = _brute_force(pa[0].tolist(), pb[0].tolist(), clicks[0].tolist())
    assert got.outcome[0] == pytest.approx(want, abs=1e-12)
    assert got.b_wins[0] - got.a_wins[0] == pytest.approx(want, abs=1e-12)


def test_probabilistic_lists_are_permutations_of_candidates() -> None:
    a, b = [f"a{i}" for i in range(5)], [f"b{i}" for i in range(5)]
    grade = {f"a{i}": 1 for i in range(5)}
    shown = Probabilistic().show(QueryPair(a, b, grade), 500, 10, np.random.default_rng(1))
    assert (shown.grades >= 0).all()
    assert (shown.grades.sum(axis=1) == 5).all()
    # A's top document leads the list about half the time A is drawn first (P = 1/1.18 of A's mass).
    assert 0.3 < float((shown.grades[:, 0] == 1).mean()) < 0.7


@pytest.mark.parametrize("method", [TeamDraft(), Balanced(), Probabilistic()], ids=["team-draft", "balanced", "prob"])
def test_identical_rankings_show_no_preference(method: object) -> None:
    """Over 40 seeds of 2,000 impressions each, the mean preference between a ranking and itself
    is within 4 standard errors of 0 (team-draft's is random; balanced and probabilistic give
    exactly 0 to every impression)."""
    model = build_click_model(ClickModelConfig.model_validate("pbm-informational"), 3, 10)
    ranking = [f"d{i}" for i in range(20)]
    grade = {f"d{i}": (3 - i % 4) for i in range(20)}
    outcomes = []
    for seed in range(40):
        rng = stream(seed, "identical")
        shown = method.show(QueryPair(ranking, ranking, grade), 2000, 10, rng)  # type: ignore[attr-defined]
        outcomes.append(method.credit(shown, model.clicks(shown.grades, rng)).outcome)  # type: ignore[attr-defined]
    o = np.concatenate(outcomes)
    assert abs(o.mean()) <= 4 * o.std() / np.sqrt(len(o)) + 1e-12
    if not isinstance(method, TeamDraft):
        assert np.abs(o).max() < 1e-12
