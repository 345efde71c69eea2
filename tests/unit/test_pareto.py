"""The Pareto frontier on hand-made (latency, quality) points: lower x, higher y is better."""

from __future__ import annotations

import math

from harness.pareto import pareto_front


def test_dominated_points_are_excluded() -> None:
    points = [
        (10.0, 0.50),  # 0 frontier: fastest
        (20.0, 0.45),  # 1 dominated by 0 (slower and worse)
        (30.0, 0.60),  # 2 frontier
        (40.0, 0.60),  # 3 dominated by 2 (same quality, slower)
        (50.0, 0.70),  # 4 frontier: best quality
        (35.0, 0.55),  # 5 dominated by 2
    ]
    assert pareto_front(points) == [0, 2, 4]


def test_frontier_is_ordered_by_cost_not_input_order() -> None:
    assert pareto_front([(5.0, 0.9), (1.0, 0.1), (3.0, 0.5)]) == [1, 2, 0]


def test_ties() -> None:
    # Same cost: only the better quality survives.
    assert pareto_front([(1.0, 0.3), (1.0, 0.4)]) == [1]
    # Identical points do not dominate each other: both copies stay, in input order.
    assert pareto_front([(2.0, 0.5), (1.0, 0.2), (2.0, 0.5)]) == [1, 0, 2]
    # An identical pair that is dominated goes together.
    assert pareto_front([(2.0, 0.3), (2.0, 0.3), (1.0, 0.4)]) == [2]


def test_degenerate_inputs() -> None:
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 0.5)]) == [0]
    assert pareto_front([(math.nan, 0.9), (1.0, math.nan), (math.inf, 1.0), (2.0, 0.1)]) == [3]
    # One point best on both axes dominates all the others.
    assert pareto_front([(3.0, 0.2), (1.0, 0.9), (2.0, 0.5)]) == [1]
