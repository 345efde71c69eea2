"""The Pareto frontier of (cost, quality) points: lower cost and higher quality are better."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates, by increasing cost (x).

    A point dominates another when its cost is lower or equal *and* its quality higher or
    equal, one of the two strictly. Identical points do not dominate each other, so all
    copies of a frontier point are kept (in input order). Points with a NaN or infinite
    coordinate are never on the frontier.
    """
    finite = [i for i, (x, y) in enumerate(points) if math.isfinite(x) and math.isfinite(y)]
    # Sort by cost, then best quality first: a point is on the frontier iff its quality
    # beats every point seen before it, or equals the last frontier point exactly.
    order = sorted(finite, key=lambda i: (points[i][0], -points[i][1], i))
    front: list[int] = []
    best_y = -math.inf
    for i in order:
        x, y = points[i]
        if y > best_y:
            front.append(i)
            best_y = y
        elif front and (x, y) == tuple(points[front[-1]]):
            front.append(i)
    return front
