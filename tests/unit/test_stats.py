"""Statistics: paired tests and intervals against scipy on fixed examples, corrections against
hand-computed values, and the DL19 acceptance (neural runs significantly better than BM25)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats as sps

from harness.compare import compare, format_comparisons
from harness.data.trec import read_qrels, read_run
from harness.errors import EvalError, SystemConfigError
from harness.evaluation import stats
from harness.evaluation.measures import evaluate
from harness.results import Cell, ResultSet, SystemInfo
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


# ------------------------------------------------------------------ DL19 acceptance

DL19_SYSTEMS = ["bm25", "bm25-rm3", "tas-b", "splade-pp-ed", "openai-ada2", "repllama"]


@pytest.fixture(scope="module")
def dl19(data_root: Path) -> ResultSet:
    """The six DL19 reference runs scored with the full judgments, as a ResultSet."""
    base = data_root / "msmarco" / "trec-dl"
    qrels = read_qrels(base / "qrels" / "dl19-full.tsv")
    measures = ["nDCG@10", "AP(rel=2)"]
    cells = []
    for s in DL19_SYSTEMS:
        ev = evaluate(qrels, read_run(base / "runs" / f"{s}-dl19.trec"), measures)
        cells.append(
            Cell(
                dataset="dl19",
                system=s,
                run_file=f"{s}-dl19.trec",
                run_sha256="",
                judged=ev.judged,
                answered=ev.answered,
                aggregate=dict(ev.aggregate),
                per_query={m: dict(v) for m, v in ev.per_query.items()},
            )
        )
    systems = {s: SystemInfo(base=s, config=[]) for s in DL19_SYSTEMS}
    return ResultSet(experiment="dl19", measures=measures, datasets={"dl19": {}}, systems=systems, cells=cells)


def test_dl19_neural_runs_are_significantly_better_than_bm25(dl19: ResultSet) -> None:
    cfg = CompareConfig.model_validate({"baseline": "bm25", "randomisation": {"resamples": 2000, "seed": 0}})
    comp = compare(dl19, cfg)
    rows = {r["system"]: r for r in comp["results"] if r["measure"] == "nDCG@10"}
    assert set(rows) == set(DL19_SYSTEMS) - {"bm25"}
    assert rows["tas-b"]["baseline_mean"] == pytest.approx(0.5058, abs=5e-5)
    assert rows["tas-b"]["mean"] == pytest.approx(0.7210, abs=5e-5)
    assert rows["splade-pp-ed"]["mean"] == pytest.approx(0.7308, abs=5e-5)

    # independent computation: scipy's paired t-test per system, Holm by hand over the family
    bm25 = dl19.cell("dl19", "bm25")
    assert bm25 is not None
    qids = sorted(bm25.per_query["nDCG@10"])
    raw = {}
    for s in rows:
        c = dl19.cell("dl19", s)
        assert c is not None
        x = [c.per_query["nDCG@10"][q] for q in qids]
        y = [bm25.per_query["nDCG@10"][q] for q in qids]
        raw[s] = float(sps.ttest_rel(x, y).pvalue)
        assert rows[s]["tests"]["t"]["p"] == pytest.approx(raw[s], rel=1e-9)
        assert rows[s]["tests"]["wilcoxon"]["p"] == pytest.approx(float(sps.wilcoxon(x, y).pvalue), rel=1e-9)
    order = sorted(raw, key=raw.get)  # type: ignore[arg-type]
    holm, running = {}, 0.0
    for rank, s in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * raw[s]))
        holm[s] = running
    for s in rows:
        assert rows[s]["tests"]["t"]["p_adjusted"] == pytest.approx(holm[s], rel=1e-9)
    for s in ("tas-b", "splade-pp-ed", "repllama"):
        assert rows[s]["significant"] is True
        assert rows[s]["direction"] == "better"
        assert holm[s] < 0.001
        lo, hi = rows[s]["delta_ci"]
        assert 0 < lo < rows[s]["delta"] < hi
    assert rows["bm25-rm3"]["significant"] is False

    intervals = {(i["system"], i["measure"]): i for i in comp["intervals"]}
    for s in DL19_SYSTEMS:
        iv = intervals[(s, "nDCG@10")]
        assert iv["n"] == 43
        assert iv["ci"][0] < iv["mean"] < iv["ci"][1]
    text = format_comparisons(comp)
    block = text.split("dl19 / nDCG@10")[1].split("dl19 / ")[0]
    lines = {ln.split()[0]: ln for ln in block.splitlines() if ln.startswith("  ")}
    marked = {s for s, ln in lines.items() if "▲" in ln}
    assert marked == {"tas-b", "splade-pp-ed", "repllama", "openai-ada2"}
    for s in ("tas-b", "splade-pp-ed", "repllama"):
        iv = intervals[(s, "nDCG@10")]
        assert f"{iv['mean']:.4f} [{iv['ci'][0]:.4f}, {iv['ci'][1]:.4f}]" in lines[s]  # interval and whisker
        assert "|" in lines[s].split("]")[1]


def test_comparisons_are_reproducible_and_json_clean(dl19: ResultSet) -> None:
    import json

    cfg = CompareConfig.model_validate(
        {
            "baseline": "bm25",
            "tests": ["t", "randomisation"],
            "randomisation": {"resamples": 500, "seed": 3},
            "correction": "bh",
        }
    )
    one, two = compare(dl19, cfg), compare(dl19, cfg)
    assert one == two
    text = json.dumps(one, allow_nan=False)
    assert json.loads(text) == one
    with pytest.raises(SystemConfigError, match=r"the baseline names system 'bm26', which these results do not hold"):
        compare(dl19, CompareConfig.model_validate({"baseline": "bm26"}))
