"""Paired significance tests, bootstrap intervals and multiple-comparison corrections.

Pure functions over per-query arrays (aligned by query). Distributions and resampling come
from scipy.stats; only the corrections (a sort and a running max/min) are written here.
scipy and numpy are imported inside the functions so that importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.errors import EvalError

Alternative = Literal["two-sided", "greater", "less"]
CORRECTIONS = ("holm", "bonferroni", "bh", "none")
UNCHANGED_TOL = 1e-9
"""Per-query differences at most this large count as 'unchanged'."""


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its p-value (`statistic` is NaN where the test has none)."""

    statistic: float
    pvalue: float


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Counts:
    improved: int
    degraded: int
    unchanged: int


def _scipy_stats() -> Any:
    """scipy.stats, imported on first use (scipy ships no type stubs)."""
    import importlib

    return importlib.import_module("scipy.stats")


def _pair(a: Sequence[float], b: Sequence[float]) -> tuple[Any, Any]:
    import numpy as np

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise EvalError(f"paired samples must be two 1-d arrays of equal length (got {x.shape} and {y.shape})")
    if x.size < 2:
        raise EvalError(f"a paired test needs at least 2 queries (got {x.size})")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise EvalError("per-query values must be finite numbers")
    return x, y


def _degenerate(d: Any, shift: float, alternative: Alternative) -> TestResult | None:
    """Constant differences: scipy's t statistic is undefined, the answer is not."""
    import numpy as np

    if float(np.ptp(d)) > UNCHANGED_TOL:
        return None
    m = float(d[0]) - shift
    if abs(m) <= UNCHANGED_TOL:
        return TestResult(0.0, 1.0)
    inf = float("inf") if m > 0 else float("-inf")
    if alternative == "two-sided":
        return TestResult(inf, 0.0)
    p = 0.0 if (m > 0) == (alternative == "greater") else 1.0
    return TestResult(inf, p)


def paired_t(
    a: Sequence[float], b: Sequence[float], alternative: Alternative = "two-sided", margin: float = 0.0
) -> TestResult:
    """Paired t-test (scipy.stats.ttest_rel) of mean(a - b) against -margin.

    With `margin` > 0 and alternative='greater' this is the non-inferiority test of
    H0: mean(a - b) <= -margin against H1: mean(a - b) > -margin.
    """
    stats = _scipy_stats()

    x, y = _pair(a, b)
    d = x - y
    fixed = _degenerate(d, -margin, alternative)
    if fixed is not None:
        return fixed
    r = stats.ttest_rel(x + margin, y, alternative=alternative)
    return TestResult(float(r.statistic), float(r.pvalue))


def wilcoxon(a: Sequence[float], b: Sequence[float], alternative: Alternative = "two-sided") -> TestResult:
    """Wilcoxon signed-rank test (scipy.stats.wilcoxon, zero differences dropped as 'wilcox')."""
    import numpy as np

    stats = _scipy_stats()

    x, y = _pair(a, b)
    d = x - y
    if not np.any(np.abs(d) > UNCHANGED_TOL):
        return TestResult(0.0, 1.0)
    r = stats.wilcoxon(x, y, zero_method="wilcox", alternative=alternative)
    return TestResult(float(r.statistic), float(r.pvalue))


def randomisation(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    alternative: Alternative = "two-sided",
) -> TestResult:
    """Paired randomisation test of the mean difference (scipy.stats.permutation_test with
    permutation_type='samples': the sign of each query's difference is flipped at random).

    Reproducible: the same seed gives the same p-value. Exact when 2**n <= n_resamples.
    """
    import numpy as np

    stats = _scipy_stats()

    x, y = _pair(a, b)
    if n_resamples < 1:
        raise EvalError(f"randomisation resamples must be positive (got {n_resamples})")
    if not np.any(np.abs(x - y) > UNCHANGED_TOL):
        return TestResult(0.0, 1.0)

    def mean_diff(u: Any, v: Any, axis: int) -> Any:
        return np.mean(u - v, axis=axis)

    r = stats.permutation_test(
        (x, y),
        mean_diff,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=np.random.default_rng(seed),
    )
    return TestResult(float(r.statistic), float(r.pvalue))


def bootstrap_mean_ci(
    values: Sequence[float], *, n_resamples: int = 2_000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Percentile bootstrap interval of the mean (scipy.stats.bootstrap, method='percentile')."""
    import numpy as np

    stats = _scipy_stats()

    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise EvalError(f"a bootstrap interval needs at least 2 values (got {x.size})")
    if not 0.0 < confidence < 1.0:
        raise EvalError(f"confidence must lie between 0 and 1 (got {confidence})")
    if n_resamples < 1:
        raise EvalError(f"bootstrap resamples must be positive (got {n_resamples})")
    if float(np.ptp(x)) == 0.0:
        return Interval(float(x[0]), float(x[0]))
    r = stats.bootstrap(
        (x,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return Interval(float(r.confidence_interval.low), float(r.confidence_interval.high))


def bootstrap_diff_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_resamples: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Paired percentile bootstrap interval of mean(a - b): queries are resampled as pairs."""
    x, y = _pair(a, b)
    return bootstrap_mean_ci(x - y, n_resamples=n_resamples, confidence=confidence, seed=seed)


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float:
    """Paired effect size: mean(a - b) / sd(a - b) (sd with n-1). 0 when nothing changed;
    +-inf when every query changed by the same amount."""
    import numpy as np

    x, y = _pair(a, b)
    d = x - y
    sd = float(np.std(d, ddof=1))
    m = float(np.mean(d))
    if sd <= UNCHANGED_TOL:
        return 0.0 if abs(m) <= UNCHANGED_TOL else (float("inf") if m > 0 else float("-inf"))
    return m / sd


def win_loss(a: Sequence[float], b: Sequence[float], tol: float = UNCHANGED_TOL) -> Counts:
    """Queries where a is better than b, worse, or within `tol` of it."""
    import numpy as np

    x, y = _pair(a, b)
    d = x - y
    return Counts(int(np.sum(d > tol)), int(np.sum(d < -tol)), int(np.sum(np.abs(d) <= tol)))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values (input order kept)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def bonferroni(pvalues: Sequence[float]) -> list[float]:
    m = len(pvalues)
    return [min(1.0, m * p) for p in pvalues]


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg step-up adjusted p-values (q-values), input order kept."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i], reverse=True)
    out = [0.0] * m
    running = 1.0
    for k, i in enumerate(order):
        rank = m - k  # 1-based rank in ascending order
        running = min(running, pvalues[i] * m / rank)
        out[i] = min(1.0, running)
    return out


def adjust(pvalues: Sequence[float], method: str = "holm") -> list[float]:
    """Adjust a family of p-values: 'holm' (default), 'bonferroni', 'bh' or 'none'."""
    for p in pvalues:
        if not 0.0 <= p <= 1.0:
            raise EvalError(f"a p-value must lie in [0, 1] (got {p})")
    if method == "holm":
        return holm(pvalues)
    if method == "bonferroni":
        return bonferroni(pvalues)
    if method in ("bh", "fdr_bh", "benjamini-hochberg"):
        return benjamini_hochberg(pvalues)
    if method == "none":
        return list(pvalues)
    raise EvalError(f"unknown correction '{method}'", hint=f"use one of {', '.join(CORRECTIONS)}")
