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


def fit_pbm(log: ClickLog) -> tuple[Any, Any, list[tuple[str, str]], int, float]:
    """(attractiveness per pair, examination per rank, the pairs, iterations, log-likelihood)."""
    import numpy as np

    code, pairs = _pairs(log)
    rank = log.position - 1
    c = log.clicked.astype(np.float64)
    n_pair = np.bincount(code, minlength=len(pairs)).astype(np.float64)
    n_rank = np.bincount(rank).astype(np.float64)
    alpha = np.full(len(pairs), 0.5)
    gamma = np.full(len(n_rank), 0.5)
    iterations = 0
    while iterations < MAX_ITERATIONS:
        iterations += 1
        a, g = alpha[code], gamma[rank]
        miss = np.maximum(1.0 - a * g, 1e-12)
        post_a = c + (1 - c) * a * (1 - g) / miss
        post_g = c + (1 - c) * g * (1 - a) / miss
        new_alpha = np.bincount(code, weights=post_a, minlength=len(pairs)) / n_pair
        sums = np.bincount(rank, weights=post_g, minlength=len(n_rank))
        new_gamma = np.divide(sums, n_rank, out=np.zeros_like(sums), where=n_rank > 0)
        change = max(np.abs(new_alpha - alpha).max(), np.abs(new_gamma - gamma).max())
        alpha, gamma = new_alpha, new_gamma
        if change < TOLERANCE:
            break
    p = np.clip(alpha[code] * gamma[rank], 1e-12, 1 - 1e-12)
    loglik = float(np.sum(c * np.log(p) + (1 - c) * np.log(1 - p)))
    scale = gamma[0]
    return alpha * scale, gamma / scale, pairs, iterations, loglik


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
    examination: list[float] | None = None
    iterations, loglik = 0, None
    if kind == "pbm":
        alpha, gamma, pairs, iterations, loglik = fit_pbm(log)
        examination = [round(float(x), 10) for x in gamma]
    else:
        alpha, pairs = fit_cascade(log)
    grades, counts = by_grade(alpha, pairs, qrels) if qrels is not None else (None, None)
    per_pair: dict[str, dict[str, float]] = {}
    for (q, d), a in zip(pairs, alpha.tolist(), strict=True):
        per_pair.setdefault(q, {})[d] = round(float(a), 10)
    return FittedModel(
        type="pbm" if kind == "pbm" else "cascade",
        sessions=log.sessions,
        examination=examination,
        attractiveness_by_grade=None if grades is None else [round(g, 10) for g in grades],
        pairs_by_grade=counts,
        iterations=iterations,
        log_likelihood=loglik,
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
