"""Interleaving methods: one list shown to a user from two rankings, and the user's clicks
turned into credit for one side.

One file per method, registered with `@INTERLEAVERS.register`. A method's `show` builds the
impressions of one query (all of them at once) as a `Shown`: the grade of each displayed
document plus what its credit rule needs per slot; `credit` maps clicks to an outcome per
impression in [-1, 1], positive when B (the second ranking) wins.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import SpecError
from harness.plugins import Registry

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Shown:
    """Impressions: `grades` (impressions x depth, -1 for an empty slot) and per-slot arrays of
    the same shape that the method's credit rule reads, by name."""

    grades: Any
    parts: Mapping[str, Any]

    @staticmethod
    def concat(shown: Sequence[Shown]) -> Shown:
        import numpy as np

        names = shown[0].parts.keys()
        return Shown(
            np.concatenate([s.grades for s in shown]),
            {k: np.concatenate([s.parts[k] for s in shown]) for k in names},
        )


@dataclass(frozen=True)
class Credit:
    """Per impression: the outcome in [-1, 1] and the probability that B, resp. A, won (0/1
    for the deterministic rules; expectations for probabilistic interleaving)."""

    outcome: Floats
    b_wins: Floats
    a_wins: Floats


@dataclass(frozen=True)
class QueryPair:
    """One query's two rankings (document ids, best first) and the grade of each judged document."""

    a: Sequence[str]
    b: Sequence[str]
    grade: Mapping[str, int]


class Interleaver(ABC):
    @abstractmethod
    def show(self, pair: QueryPair, impressions: int, depth: int, rng: np.random.Generator) -> Shown:
        """`impressions` interleavings of the query's rankings A and B."""

    @abstractmethod
    def credit(self, shown: Shown, clicks: npt.NDArray[np.bool_]) -> Credit: ...


INTERLEAVERS: Registry[type[Interleaver]] = Registry("interleaving method", "harness.online.interleaving", SpecError)


def grades_of(docs: Sequence[str], grade: Mapping[str, int], depth: int) -> list[int]:
    """The grades of `docs` padded with -1 (nothing shown) to `depth`."""
    return [grade.get(d, 0) for d in docs[:depth]] + [-1] * (depth - min(len(docs), depth))


def sign_credit(b_points: Any, a_points: Any) -> Credit:
    """The deterministic rules: B wins an impression when it earned more points than A."""
    import numpy as np

    b_wins = (b_points > a_points).astype(np.float64)
    a_wins = (a_points > b_points).astype(np.float64)
    return Credit(b_wins - a_wins, b_wins, a_wins)
