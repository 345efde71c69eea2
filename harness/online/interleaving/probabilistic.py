"""Probabilistic interleaving (Hofmann, Whiteson and de Rijke, "A probabilistic method for
inferring preferences from clicks", CIKM 2011), with its marginalised credit.

Each ranking becomes a distribution over documents, P(d) proportional to 1 / rank(d)^tau
(tau = 3, the paper's value); for every slot a fair coin picks a ranking and a document is
drawn from that ranking's distribution over the documents not yet shown. Credit marginalises
over the assignments that could have produced the list: P(slot i came from A | list) is
p_A(d_i) / (p_A(d_i) + p_B(d_i)) independently per slot (the list's probability factorises by
slot), so the expected outcome follows from the distribution of A's share of the clicks.

The candidates are the union of both rankings' top POOL documents; a candidate a ranking does
not hold ranks just after that ranking's last document. At tau = 3 the probability mass below
rank 100 is under 1e-4 of the whole, so the cut changes no reported digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.online.interleaving import INTERLEAVERS, Credit, Interleaver, QueryPair, Shown

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

TAU = 3.0
POOL = 100


def _weights(ranking: Sequence[str], candidates: list[str]) -> npt.NDArray[np.float64]:
    import numpy as np

    rank = {d: i + 1 for i, d in reversed(list(enumerate(ranking)))}
    missing = len(ranking) + 1
    return np.asarray([rank.get(d, missing) for d in candidates], dtype=np.float64) ** -TAU


@INTERLEAVERS.register("probabilistic")
class Probabilistic(Interleaver):
    def show(self, pair: QueryPair, impressions: int, depth: int, rng: np.random.Generator) -> Shown:
        import numpy as np

        a, b, grade = pair.a, pair.b, pair.grade
        candidates = list(dict.fromkeys([*a[:POOL], *b[:POOL]]))
        n, m = impressions, len(candidates)
        g = np.full((n, depth), -1, dtype=np.int64)
        pa = np.zeros((n, depth))
        pb = np.zeros((n, depth))
        if m == 0:
            return Shown(g, {"p_a": pa, "p_b": pb})
        wa, wb = _weights(a, candidates), _weights(b, candidates)
        cand_grades = np.asarray([grade.get(d, 0) for d in candidates], dtype=np.int64)
        left = np.ones((n, m), dtype=bool)
        rows = np.arange(n)
        for slot in range(min(depth, m)):
            from_a = rng.random(n) < 0.5
            la, lb = left * wa, left * wb
            chosen = np.where(from_a[:, None], la, lb)
            cum = np.cumsum(chosen, axis=1)
            u = rng.random(n) * cum[:, -1]
            pick = np.minimum((cum <= u[:, None]).sum(axis=1), m - 1)
            g[:, slot] = cand_grades[pick]
            pa[:, slot] = wa[pick] / la.sum(axis=1)
            pb[:, slot] = wb[pick] / lb.sum(axis=1)
            left[rows, pick] = False
        return Shown(g, {"p_a": pa, "p_b": pb})

    def credit(self, shown: Shown, clicks: npt.NDArray[np.bool_]) -> Credit:
        import numpy as np

        pa, pb = shown.parts["p_a"], shown.parts["p_b"]
        n, depth = clicks.shape
        total = np.where(pa + pb > 0, pa + pb, 1.0)
        q_a = pa / total
        # dist[:, j]: P(j of the clicked slots were A's), built slot by slot.
        dist = np.zeros((n, depth + 1))
        dist[:, 0] = 1.0
        for slot in range(depth):
            q = np.where(clicks[:, slot], q_a[:, slot], 0.0)[:, None]
            c = clicks[:, slot][:, None]
            shifted = np.concatenate([np.zeros((n, 1)), dist[:, :-1]], axis=1)
            dist = np.where(c, dist * (1 - q) + shifted * q, dist)
        j = np.arange(depth + 1)[None, :]
        n_clicks = clicks.sum(1)[:, None]
        a_wins = (dist * (2 * j > n_clicks)).sum(1)
        b_wins = (dist * (2 * j < n_clicks)).sum(1)
        return Credit(b_wins - a_wins, b_wins, a_wins)
