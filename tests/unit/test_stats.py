"""Statistics: paired tests and intervals against scipy on fixed examples, corrections against
hand-computed values. (The DL19 acceptance, neural runs significantly better than BM25:
tests/contract/test_compare_dl19.py.)"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats as sps

from harness.errors import EvalError
from harness.evaluation import stats
from harness.sections import CompareConfig

# Two fixed paired samples (per-query nDCG-like values), 12 queries, no ties in |differences|.
A = [0.61, 0.42, 0.88, 0.35, 0.70, 0.52, 0.93, 0.27, 0.66, 0.48, 0.81, 0.59]
B = [0.55, 0.40, 0.71, 0.38, 0.52, 0.50, 0.80, 0.31, 0.49, 0.30, 0.79, 0.46]


# ------------------------------------------------------------------ paired tests vs scipy


def test_paired_t_matches_scipy_and_textbook_value() -> None:
    r = stats.paired_t(A, B)
    ref = sps.ttest_rel(A, B)
    assert r.statistic == pytest.approx(float(ref.statistic), rel=1e-12)
    assert r.pvalue == pytest.approx(float(ref.pvalue), rel=1e-12)
    # differences 1..5: mean 3, sd sqrt(2.5), t = 3 / (sqrt(2.5)/sqrt(5)) = 4.2426; df 4, two-sided p = 0.01324
    t = stats.paired_t([2, 4, 6, 8, 10], [1, 2, 3, 4, 5])
    assert t.statistic == pytest.approx(4.242641, abs=1e-6)
    assert t.pvalue == pytest.approx(0.013236, abs=1e-6)


def test_one_sided_and_non_inferiority_match_scipy() -> None:
    greater = stats.paired_t(A, B, alternative="greater")
    assert greater.pvalue == pytest.approx(float(sps.ttest_rel(A, B, alternative="greater").pvalue), rel=1e-12)
    # H0: mean(A - B) <= -0.05  ==  one-sample t of (A - B) against -0.05
    d = np.asarray(A) - np.asarray(B)
    ni = stats.paired_t(A, B, alternative="greater", margin=0.05)
    ref = sps.ttest_1samp(d, -0.05, alternative="greater")
    assert ni.statistic == pytest.approx(float(ref.statistic), rel=1e-9)
    assert ni.pvalue == pytest.approx(float(ref.pvalue), rel=1e-9)


def test_constant_differences_have_defined_answers() -> None:
    assert stats.paired_t(A, A) == stats.TestResult(0.0, 1.0)
    assert stats.wilcoxon(A, A) == stats.TestResult(0.0, 1.0)
    assert stats.randomisation(A, A) == stats.TestResult(0.0, 1.0)
    # unchanged values are non-inferior for any positive margin
    assert stats.paired_t(A, A, alternative="greater", margin=0.01).pvalue == 0.0
    # every query 0.1 worse, margin 0.01: certainly not non-inferior
    worse = [a - 0.1 for a in A]
    assert stats.paired_t(worse, A, alternative="greater", margin=0.01).pvalue == 1.0


def test_wilcoxon_matches_scipy() -> None:
    r = stats.wilcoxon(A, B)
    ref = sps.wilcoxon(A, B)
    assert r.statistic == float(ref.statistic)
    assert r.pvalue == pytest.approx(float(ref.pvalue), rel=1e-12)
    # |differences| sorted: 0.02 x3, 0.03, 0.04, ...; the negative ones (-0.03, -0.04) rank 4 and 5:
    # W = min(R+, R-) = 9
    assert r.statistic == 9.0


def test_randomisation_is_exact_for_small_samples_and_reproducible() -> None:
    a, b = [0.9, 0.7, 0.8, 0.4, 0.65, 0.3], [0.5, 0.6, 0.5, 0.45, 0.6, 0.1]
    d = np.asarray(a) - np.asarray(b)
    observed = abs(d.mean())
    # every one of the 2**6 sign assignments, counted by hand
    flips = [abs((d * np.asarray(s)).mean()) for s in itertools.product([1, -1], repeat=len(d))]
    expected = sum(1 for f in flips if f >= observed - 1e-12) / len(flips)
    assert stats.randomisation(a, b, n_resamples=1000).pvalue == pytest.approx(expected)

    # Monte Carlo (2**12 > 500 resamples): the seed fixes the answer
    p1 = stats.randomisation(A, B, n_resamples=500, seed=7).pvalue
    p2 = stats.randomisation(A, B, n_resamples=500, seed=7).pvalue
    assert p1 == p2
    ref = sps.permutation_test(
        (np.asarray(A), np.asarray(B)),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=500,
        rng=np.random.default_rng(7),
    )
    assert p1 == pytest.approx(float(ref.pvalue))
    # and it agrees roughly with the t-test on this well-behaved sample
    assert p1 < 0.05
    assert stats.paired_t(A, B).pvalue < 0.05


def test_bootstrap_intervals_match_scipy() -> None:
    ci = stats.bootstrap_mean_ci(A, n_resamples=3000, confidence=0.9, seed=11)
    ref = sps.bootstrap(
        (np.asarray(A),),
        np.mean,
        n_resamples=3000,
        confidence_level=0.9,
        method="percentile",
        rng=np.random.default_rng(11),
    )
    assert ci.low == pytest.approx(float(ref.confidence_interval.low), rel=1e-12)
    assert ci.high == pytest.approx(float(ref.confidence_interval.high), rel=1e-12)
    assert ci.low < float(np.mean(A)) < ci.high

    dci = stats.bootstrap_diff_ci(A, B, n_resamples=3000, seed=11)
    dref = sps.bootstrap(
        (np.asarray(A) - np.asarray(B),),
        np.mean,
        n_resamples=3000,
        method="percentile",
        rng=np.random.default_rng(11),
    )
    assert (dci.low, dci.high) == pytest.approx(
        (float(dref.confidence_interval.low), float(dref.confidence_interval.high)), rel=1e-12
    )
    assert stats.bootstrap_diff_ci(A, B, seed=11) == stats.bootstrap_diff_ci(A, B, seed=11)
    # a large sample: the percentile interval approaches mean +- 1.96 sd / sqrt(n)
    x = np.random.default_rng(0).normal(0.5, 0.2, 4000)
    big = stats.bootstrap_mean_ci(list(x), n_resamples=2000, seed=1)
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x))
    assert big.low == pytest.approx(x.mean() - half, abs=0.002)
    assert big.high == pytest.approx(x.mean() + half, abs=0.002)


def test_effect_size_and_counts() -> None:
    d = np.asarray(A) - np.asarray(B)
    assert stats.cohens_d(A, B) == pytest.approx(d.mean() / d.std(ddof=1))
    assert stats.win_loss(A, B) == stats.Counts(improved=10, degraded=2, unchanged=0)
    assert stats.win_loss([1, 2, 3], [1, 1, 4]) == stats.Counts(1, 1, 1)


# ------------------------------------------------------------------ corrections, by hand


def test_holm_bonferroni_bh_against_hand_computed() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert stats.adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.adjust(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    # BH: 0.005*4/1=0.02, 0.01*4/2=0.02, 0.03*4/3=0.04, 0.04*4/4=0.04 (then running min from the top)
    assert stats.adjust(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    q = [0.01, 0.02, 0.03, 0.04, 0.05]
    assert stats.adjust(q, "holm") == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    assert stats.adjust(q, "bh") == pytest.approx([0.05] * 5)
    # step-up: a large p late in the order pulls nothing up; capping at 1
    assert stats.adjust([0.04, 0.9, 0.5], "bh") == pytest.approx([0.12, 0.9, 0.75])
    assert stats.adjust([0.3, 0.6], "bonferroni") == pytest.approx([0.6, 1.0])
    assert stats.adjust([0.2, 0.6], "holm") == pytest.approx([0.4, 0.6])
    assert stats.adjust(q, "none") == q
    # scipy's own BH agrees
    assert stats.adjust(p, "bh") == pytest.approx(list(sps.false_discovery_control(p)))


def test_bad_input_is_a_typed_error() -> None:
    with pytest.raises(EvalError, match="equal length"):
        stats.paired_t([0.1, 0.2], [0.1])
    with pytest.raises(EvalError, match="at least 2"):
        stats.paired_t([0.1], [0.2])
    with pytest.raises(EvalError, match="finite"):
        stats.wilcoxon([0.1, float("nan")], [0.2, 0.3])
    with pytest.raises(EvalError, match="unknown correction 'sidak'"):
        stats.adjust([0.1], "sidak")
    with pytest.raises(EvalError, match="p-value"):
        stats.adjust([1.5], "holm")
    with pytest.raises(ValidationError, match="tests_"):
        CompareConfig.model_validate({"tests_": ["t"]})
    with pytest.raises(ValidationError, match="correction"):
        CompareConfig.model_validate({"correction": "sidak"})
    with pytest.raises(ValidationError, match="primary"):
        CompareConfig.model_validate({"tests": ["wilcoxon"]})
