"""Rank fusion as pure functions over runs: RRF, CombSUM, CombMNZ and a weighted convex sum.

Every function takes runs in trec_eval order (what `Run` always holds) and returns a new `Run`;
inputs are never modified. Ranks are 1-based positions in trec_eval order, so ties in an input
are broken the way trec_eval breaks them (doc id descending) before they turn into ranks.

Score-based methods normalise each input run per query first:

- ``minmax``: (s - min) / (max - min); a query whose scores are all equal maps every score to
  1.0 (each retrieved document counts fully, as a single retrieved document should);
- ``zscore``: (s - mean) / std (population std); all-equal scores map to 0.0;
- ``none``: raw scores, for inputs already on one scale.

A document absent from an input contributes nothing to the sum for that input (0 after
normalisation), which is the CombSUM / CombMNZ convention of Fox & Shaw (1994).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

from harness.records import Run, ScoredDoc

Normalisation = Literal["minmax", "zscore", "none"]
Method = Literal["rrf", "combsum", "combmnz", "weighted"]


def normalise(scores: Sequence[float], method: Normalisation) -> list[float]:
    """Per-query score normalisation (see the module docstring for the all-equal case)."""
    if method == "none" or not scores:
        return [float(s) for s in scores]
    if method == "minmax":
        lo, hi = min(scores), max(scores)
        if hi == lo:
            return [1.0] * len(scores)
        return [(s - lo) / (hi - lo) for s in scores]
    mean = math.fsum(scores) / len(scores)
    std = math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / len(scores))
    if std == 0.0:
        return [0.0] * len(scores)
    return [(s - mean) / std for s in scores]


def _queries(runs: Sequence[Run], queries: Sequence[str] | None) -> list[str]:
    if queries is not None:
        return list(queries)
    seen: dict[str, None] = {}
    for run in runs:
        seen.update(dict.fromkeys(run))
    return list(seen)


def _weights(runs: Sequence[Run], weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(runs)
    if len(weights) != len(runs):
        raise ValueError(f"{len(weights)} weights for {len(runs)} runs")
    return [float(w) for w in weights]


def _fuse(
    runs: Sequence[Run],
    contribution: Callable[[int, Sequence[ScoredDoc]], list[float]],
    weights: Sequence[float],
    queries: Sequence[str] | None,
    depth: int | None,
    multiply_by_hits: bool = False,
) -> Run:
    out: dict[str, list[ScoredDoc]] = {}
    for qid in _queries(runs, queries):
        total: dict[str, float] = {}
        hits: dict[str, int] = {}
        for i, run in enumerate(runs):
            docs = run.get(qid, ())
            for doc, value in zip(docs, contribution(i, docs), strict=True):
                total[doc.doc_id] = total.get(doc.doc_id, 0.0) + weights[i] * value
                hits[doc.doc_id] = hits.get(doc.doc_id, 0) + 1
        fused = [ScoredDoc(d, s * hits[d] if multiply_by_hits else s) for d, s in total.items()]
        out[qid] = fused
    result = Run(out)
    return result.truncated(depth) if depth is not None else result


def rrf(
    runs: Sequence[Run],
    k: float = 60,
    weights: Sequence[float] | None = None,
    queries: Sequence[str] | None = None,
    depth: int | None = None,
) -> Run:
    """Reciprocal rank fusion (Cormack et al., 2009): score(d) = sum_i w_i / (k + rank_i(d))."""
    w = _weights(runs, weights)
    return _fuse(runs, lambda _i, docs: [1.0 / (k + r) for r in range(1, len(docs) + 1)], w, queries, depth)


def _comb(
    runs: Sequence[Run],
    norm: Normalisation,
    weights: Sequence[float] | None,
    queries: Sequence[str] | None,
    depth: int | None,
    multiply_by_hits: bool,
) -> Run:
    w = _weights(runs, weights)
    scores = lambda _i, docs: normalise([d.score for d in docs], norm)  # noqa: E731
    return _fuse(runs, scores, w, queries, depth, multiply_by_hits=multiply_by_hits)


def combsum(
    runs: Sequence[Run],
    norm: Normalisation = "minmax",
    weights: Sequence[float] | None = None,
    queries: Sequence[str] | None = None,
    depth: int | None = None,
) -> Run:
    """CombSUM: the (weighted) sum of each input's normalised scores."""
    return _comb(runs, norm, weights, queries, depth, multiply_by_hits=False)


def combmnz(
    runs: Sequence[Run],
    norm: Normalisation = "minmax",
    weights: Sequence[float] | None = None,
    queries: Sequence[str] | None = None,
    depth: int | None = None,
) -> Run:
    """CombMNZ: CombSUM times the number of inputs that retrieved the document."""
    return _comb(runs, norm, weights, queries, depth, multiply_by_hits=True)


def weighted(
    runs: Sequence[Run],
    weights: Sequence[float],
    norm: Normalisation = "minmax",
    queries: Sequence[str] | None = None,
    depth: int | None = None,
) -> Run:
    """Convex combination sum_i w_i * norm_i(d), with w_i >= 0 and sum w_i = 1."""
    if any(w < 0 for w in weights) or not math.isclose(math.fsum(weights), 1.0, abs_tol=1e-9):
        raise ValueError(f"convex weights must be >= 0 and sum to 1, got {list(weights)}")
    return combsum(runs, norm, weights, queries, depth)


def fuse(
    method: Method,
    runs: Sequence[Run],
    *,
    k: float = 60,
    norm: Normalisation = "minmax",
    weights: Sequence[float] | None = None,
    queries: Sequence[str] | None = None,
    depth: int | None = None,
) -> Run:
    """Dispatch on the method name (what the `fuse` stage calls)."""
    if method == "rrf":
        return rrf(runs, k, weights, queries, depth)
    if method == "combsum":
        return combsum(runs, norm, weights, queries, depth)
    if method == "combmnz":
        return combmnz(runs, norm, weights, queries, depth)
    if weights is None:
        raise ValueError("the weighted method needs weights")
    return weighted(runs, weights, norm, queries, depth)
