"""Team-draft interleaving (Radlinski, Kurup and Joachims, CIKM 2008).

The team with fewer picks picks next, a fair coin deciding ties; a team picks its highest-ranked
document not yet shown. A click credits the team that picked the document; the team with more
clicked documents wins the impression. When one ranking has no new document left, the other
fills the remaining slots (the paper stops there; filling keeps every list `depth` long, so a
system that returns nothing for a query loses it).

A query's interleaving is fixed by the coin flips at its ties, at most ceil(depth / 2) of them:
each impression draws those bits and the lists are built once per distinct bit pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.online.interleaving import INTERLEAVERS, Credit, Interleaver, QueryPair, Shown, sign_credit

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

A, B = -1, 1


def team_draft(a: Sequence[str], b: Sequence[str], depth: int, flips: Sequence[int]) -> tuple[list[str], list[int]]:
    """The list and each slot's team (A = -1, B = +1) for the coin flips `flips` (1: A first),
    consumed one per tie."""
    docs: list[str] = []
    teams: list[int] = []
    seen: set[str] = set()
    ia = ib = picks_a = picks_b = used = 0
    while len(docs) < depth:
        while ia < len(a) and a[ia] in seen:
            ia += 1
        while ib < len(b) and b[ib] in seen:
            ib += 1
        if ia == len(a) and ib == len(b):
            break
        if ib == len(b) or (ia < len(a) and picks_a < picks_b):
            team = A
        elif ia == len(a) or picks_b < picks_a:
            team = B
        else:
            team = A if flips[used] else B
            used += 1
        doc = a[ia] if team == A else b[ib]
        picks_a += team == A
        picks_b += team == B
        docs.append(doc)
        teams.append(team)
        seen.add(doc)
    return docs, teams


@INTERLEAVERS.register("team-draft")
class TeamDraft(Interleaver):
    def show(self, pair: QueryPair, impressions: int, depth: int, rng: np.random.Generator) -> Shown:
        import numpy as np

        a, b, grade = pair.a, pair.b, pair.grade
        flips = rng.integers(0, 2, size=(impressions, (depth + 1) // 2), dtype=np.int8)
        patterns, which = np.unique(flips, axis=0, return_inverse=True)
        g = np.full((len(patterns), depth), -1, dtype=np.int64)
        t = np.zeros((len(patterns), depth), dtype=np.int8)
        for i, pattern in enumerate(patterns):
            docs, teams = team_draft(a, b, depth, pattern.tolist())
            g[i, : len(docs)] = [grade.get(d, 0) for d in docs]
            t[i, : len(teams)] = teams
        which = which.reshape(-1)
        return Shown(g[which], {"team": t[which]})

    def credit(self, shown: Shown, clicks: npt.NDArray[np.bool_]) -> Credit:
        team = shown.parts["team"]
        return sign_credit((clicks & (team == B)).sum(1), (clicks & (team == A)).sum(1))
