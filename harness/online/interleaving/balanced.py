"""Balanced interleaving (Joachims, "Evaluating retrieval performance using clickthrough data",
2003): the two rankings are merged alternately from their tops, a coin deciding which starts,
skipping documents already shown. Credit: with d the lowest clicked document and k the smallest
rank at which d is in the top k of A or of B, each side scores its clicked documents in its own
top k; the higher score wins the impression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.online.interleaving import INTERLEAVERS, Credit, Interleaver, QueryPair, Shown, sign_credit

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

ABSENT = 1 << 30
"""The rank of a document a ranking does not hold."""


def balanced(a: Sequence[str], b: Sequence[str], depth: int, a_first: bool) -> list[str]:
    docs: list[str] = []
    seen: set[str] = set()
    ka = kb = 0
    while len(docs) < depth and (ka < len(a) or kb < len(b)):
        take_a = kb >= len(b) or (ka < len(a) and (ka < kb or (ka == kb and a_first)))
        doc = a[ka] if take_a else b[kb]
        if take_a:
            ka += 1
        else:
            kb += 1
        if doc not in seen:
            seen.add(doc)
            docs.append(doc)
    return docs


@INTERLEAVERS.register("balanced")
class Balanced(Interleaver):
    def show(self, pair: QueryPair, impressions: int, depth: int, rng: np.random.Generator) -> Shown:
        import numpy as np

        a, b, grade = pair.a, pair.b, pair.grade
        rank_a = {d: i for i, d in reversed(list(enumerate(a)))}
        rank_b = {d: i for i, d in reversed(list(enumerate(b)))}
        g = np.full((2, depth), -1, dtype=np.int64)
        ra = np.full((2, depth), ABSENT, dtype=np.int64)
        rb = np.full((2, depth), ABSENT, dtype=np.int64)
        for i, a_first in enumerate((False, True)):
            docs = balanced(a, b, depth, a_first)
            g[i, : len(docs)] = [grade.get(d, 0) for d in docs]
            ra[i, : len(docs)] = [rank_a.get(d, ABSENT) for d in docs]
            rb[i, : len(docs)] = [rank_b.get(d, ABSENT) for d in docs]
        which = rng.integers(0, 2, size=impressions)
        return Shown(g[which], {"rank_a": ra[which], "rank_b": rb[which]})

    def credit(self, shown: Shown, clicks: npt.NDArray[np.bool_]) -> Credit:
        import numpy as np

        ra, rb = shown.parts["rank_a"], shown.parts["rank_b"]
        depth = clicks.shape[1]
        # The lowest clicked slot (or slot 0 where nothing was clicked: no points either way).
        last = depth - 1 - np.argmax(clicks[:, ::-1], axis=1)
        rows = np.arange(len(clicks))
        k = np.minimum(ra[rows, last], rb[rows, last])[:, None]
        return sign_credit((clicks & (rb <= k)).sum(1), (clicks & (ra <= k)).sum(1))
