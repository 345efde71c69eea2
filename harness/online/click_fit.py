"""Click models fitted to a click log: PBM by expectation-maximisation, the cascade model by its
closed-form maximum likelihood (Chuklin, Markov and de Rijke, "Click Models for Web Search",
2015, chapter 4), and logs simulated from a known model (to test a fit, or to try the commands).

No maintained Python library fits these today (PyClick is Python 2 and unmaintained), so the
estimators are written here over numpy columns; tests recover the parameters of simulated logs.

PBM fixes only the products attractiveness x examination: the fit reports examination relative
to rank 1 (rank 1 examined with probability 1) and scales attractiveness to match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import DataError
from harness.online.fitted import FittedModel

if TYPE_CHECKING:
    import numpy as np

    from harness.online.click_log import ClickLog
    from harness.online.click_models import ClickModel

MAX_ITERATIONS = 1000
TOLERANCE = 1e-7


def _pairs(log: ClickLog) -> tuple[Any, list[tuple[str, str]]]:
    """A code per row for its (query, document) pair, and the pairs in code order."""
    import numpy as np

    keys = log.query * len(log.documents) + log.document
    uniq, code = np.unique(keys, return_inverse=True)
    pairs = [(log.queries[k // len(log.documents)], log.documents[k % len(log.documents)]) for k in uniq.tolist()]
    return code.reshape(-1), pairs


@dataclass(frozen=True)
class PbmFit:
    attractiveness: Any
    """Per pair (scaled so that rank 1 is examined with probability 1)."""
    examination: list[float | None]
    """Per rank from 1; None for a rank the log never shows."""
    pairs: list[tuple[str, str]]
    iterations: int
    converged: bool
    log_likelihood: float
    pairs_at_several_ranks: float
    """Share of the log's (query, document) pairs shown at two or more ranks."""


def _several_ranks(code: Any, rank: Any, n_pairs: int) -> float:
    import numpy as np

    seen = np.unique(code * (int(rank.max()) + 1) + rank) // (int(rank.max()) + 1)
    return float((np.bincount(seen, minlength=n_pairs) > 1).mean())


def fit_pbm(log: ClickLog) -> PbmFit:
    import numpy as np

    code, pairs = _pairs(log)
    rank = log.position - 1
    several = _several_ranks(code, rank, len(pairs))
    fix = "PBM needs documents shown at several ranks (randomised or varied rankings); or fit --model cascade"
    if several == 0:
        raise DataError("PBM cannot be fitted: every document of the log is shown at one rank only", hint=fix)
    c = log.clicked.astype(np.float64)
    n_pair = np.bincount(code, minlength=len(pairs)).astype(np.float64)
    n_rank = np.bincount(rank).astype(np.float64)
    if n_rank[0] == 0:
        raise DataError("PBM cannot be fitted: the log never shows rank 1", hint="positions start at 1 (the top)")
    alpha, gamma = np.full(len(pairs), 0.5), np.full(len(n_rank), 0.5)
    iterations, converged = 0, False
    while iterations < MAX_ITERATIONS and not converged:
        iterations += 1
        a, g = alpha[code], gamma[rank]
        miss = np.maximum(1.0 - a * g, 1e-12)
        post_a = c + (1 - c) * a * (1 - g) / miss
        post_g = c + (1 - c) * g * (1 - a) / miss
        new_alpha = np.bincount(code, weights=post_a, minlength=len(pairs)) / n_pair
        sums = np.bincount(rank, weights=post_g, minlength=len(n_rank))
        new_gamma = np.divide(sums, n_rank, out=np.zeros_like(sums), where=n_rank > 0)
        converged = bool(max(np.abs(new_alpha - alpha).max(), np.abs(new_gamma - gamma).max()) < TOLERANCE)
        alpha, gamma = new_alpha, new_gamma
    p = np.clip(alpha[code] * gamma[rank], 1e-12, 1 - 1e-12)
    scale = gamma[0]
    examination = [round(float(x / scale), 10) if n > 0 else None for x, n in zip(gamma, n_rank, strict=True)]
    return PbmFit(
        attractiveness=alpha * scale,
        examination=examination,
        pairs=pairs,
        iterations=iterations,
        converged=converged,
        log_likelihood=float(np.sum(c * np.log(p) + (1 - c) * np.log(1 - p))),
        pairs_at_several_ranks=several,
    )


def fit_cascade(log: ClickLog) -> tuple[Any, list[tuple[str, str]]]:
    """Attractiveness per pair: clicks over examinations, a result counting as examined when it
    is at or above its session's first click (every result of a session without clicks)."""
    import numpy as np

    code, pairs = _pairs(log)
    big = np.iinfo(np.int64).max
    first = np.full(log.sessions, big)
    np.minimum.at(first, log.session[log.clicked], log.position[log.clicked])
    examined = log.position <= first[log.session]
    clicked = log.clicked & (log.position == first[log.session])
    n = np.bincount(code[examined], minlength=len(pairs)).astype(np.float64)
    k = np.bincount(code[clicked], minlength=len(pairs)).astype(np.float64)
    return np.divide(k, n, out=np.zeros_like(k), where=n > 0), pairs


def by_grade(
    attractiveness: Any, pairs: Sequence[tuple[str, str]], qrels: Mapping[str, Mapping[str, int]]
) -> tuple[list[float], list[int]]:
    """Mean fitted attractiveness of the log's pairs per judged grade (unjudged: grade 0)."""
    grades = [max(0, qrels.get(q, {}).get(d, 0)) for q, d in pairs]
    top = max([1, *grades, *(g for j in qrels.values() for g in j.values())])
    sums, counts = [0.0] * (top + 1), [0] * (top + 1)
    for g, a in zip(grades, attractiveness.tolist(), strict=True):
        sums[g] += a
        counts[g] += 1
    empty = [g for g, n in enumerate(counts) if n == 0]
    if empty:
        raise DataError(
            f"the log shows no document of grade {empty[0]} for a judged query, so the fitted model has no "
            "attractiveness for that grade",
            hint="fit a log that covers every grade, or fit without --qrels (then it cannot drive a simulation)",
        )
    return [s / n for s, n in zip(sums, counts, strict=True)], counts


def fit(log: ClickLog, kind: str, qrels: Mapping[str, Mapping[str, int]] | None) -> FittedModel:
    if qrels is not None and not set(log.queries) & set(qrels):
        raise DataError(
            "no query of the click log is in the judgments", hint="give the qrels of the log's queries with --qrels"
        )
    pbm = fit_pbm(log) if kind == "pbm" else None
    if pbm is not None:
        alpha, pairs = pbm.attractiveness, pbm.pairs
    else:
        alpha, pairs = fit_cascade(log)
    grades, counts = by_grade(alpha, pairs, qrels) if qrels is not None else (None, None)
    per_pair: dict[str, dict[str, float]] = {}
    for (q, d), a in zip(pairs, alpha.tolist(), strict=True):
        per_pair.setdefault(q, {})[d] = round(float(a), 10)
    return FittedModel(
        type="pbm" if kind == "pbm" else "cascade",
        sessions=log.sessions,
        examination=pbm.examination if pbm else None,
        attractiveness_by_grade=None if grades is None else [round(g, 10) for g in grades],
        pairs_by_grade=counts,
        iterations=pbm.iterations if pbm else 0,
        converged=pbm.converged if pbm else True,
        pairs_at_several_ranks=pbm.pairs_at_several_ranks if pbm else None,
        log_likelihood=pbm.log_likelihood if pbm else None,
        attractiveness=per_pair,
    )


def simulate_log(
    model: ClickModel,
    rankings: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    sessions: int,
    depth: int,
    rng: np.random.Generator,
    shuffle: bool,
) -> list[tuple[int, str, str, int, int]]:
    """Rows (session, query, document, position, clicked) of `sessions` impressions of the
    rankings' top `depth` for queries drawn uniformly; `shuffle` permutes each impression's
    results (PBM's parameters are identifiable only when documents appear at several ranks)."""
    import numpy as np

    queries = sorted(q for q, docs in rankings.items() if docs)
    if not queries:
        raise DataError("no query has both a ranking and judgments", hint="give the run and qrels of one query set")
    drawn = rng.integers(0, len(queries), size=sessions)
    shown = [list(rankings[queries[i]][:depth]) for i in drawn.tolist()]
    if shuffle:
        shown = [[docs[j] for j in rng.permutation(len(docs))] for docs in shown]
    grades = np.full((sessions, depth), -1, dtype=np.int64)
    for s, (i, docs) in enumerate(zip(drawn.tolist(), shown, strict=True)):
        judged = qrels.get(queries[i], {})
        grades[s, : len(docs)] = [max(0, judged.get(d, 0)) for d in docs]
    clicks = model.clicks(grades, rng)
    return [
        (s, queries[i], d, r + 1, int(clicks[s, r]))
        for s, (i, docs) in enumerate(zip(drawn.tolist(), shown, strict=True))
        for r, d in enumerate(docs)
    ]
