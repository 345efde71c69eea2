"""Comparisons on real runs: the six DL19 reference runs scored with the full judgments; the
neural ones are significantly better than BM25, with p-values equal to scipy's and Holm's
correction computed by hand. (The statistics on fixed examples: tests/unit/test_stats.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy import stats as sps

from harness.compare import compare, format_comparisons
from harness.data.trec import read_qrels, read_run
from harness.errors import SystemConfigError
from harness.evaluation.measures import evaluate
from harness.results import Cell, ResultSet, SystemInfo
from harness.sections import CompareConfig

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
