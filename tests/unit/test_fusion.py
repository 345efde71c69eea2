"""Fusion (RRF, CombSUM, CombMNZ, weighted) against hand-computed examples, the `fuse` and `use`
stages end to end over the replayed TREC DL 2019 runs, and bad fusion inputs through the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.rank_fusion import combmnz, combsum, fuse, normalise, rrf, weighted
from harness.records import Run, ScoredDoc
from tests.conftest import run_cli

# Two tiny runs over one query. A ranks d1 > d2 > d3; B ranks d2 > d4.
A = Run({"q1": [ScoredDoc("d1", 3.0), ScoredDoc("d2", 2.0), ScoredDoc("d3", 1.0)]})
B = Run({"q1": [ScoredDoc("d2", 10.0), ScoredDoc("d4", 5.0)], "q2": [ScoredDoc("d9", 1.0)]})


def scores(run: Run, qid: str = "q1") -> dict[str, float]:
    return {d.doc_id: d.score for d in run[qid]}


def order(run: Run, qid: str = "q1") -> list[str]:
    return [d.doc_id for d in run[qid]]


def test_rrf_hand_computed() -> None:
    fused = rrf([A, B], k=60)
    expected = {"d1": 1 / 61, "d2": 1 / 62 + 1 / 61, "d3": 1 / 63, "d4": 1 / 62}
    assert scores(fused) == pytest.approx(expected, abs=1e-15)
    assert order(fused) == ["d2", "d1", "d4", "d3"]
    # A query only one input answers still gets that input's ranking.
    assert scores(fused, "q2") == pytest.approx({"d9": 1 / 61})


def test_rrf_k_and_weights() -> None:
    fused = rrf([A, B], k=0, weights=[2.0, 1.0])
    assert scores(fused) == pytest.approx({"d1": 2.0, "d2": 2 / 2 + 1.0, "d3": 2 / 3, "d4": 1 / 2})
    # d1 and d2 tie at 2.0: trec_eval order breaks the tie by doc id descending.
    assert order(fused) == ["d2", "d1", "d3", "d4"]


def test_rrf_ranks_follow_trec_eval_tie_breaking() -> None:
    # Tied scores: trec_eval ranks 'b' before 'a' (doc id descending), so 'b' gets rank 1.
    tied = Run({"q": [ScoredDoc("a", 1.0), ScoredDoc("b", 1.0)]})
    assert scores(rrf([tied], k=60), "q") == pytest.approx({"b": 1 / 61, "a": 1 / 62})


def test_normalisations() -> None:
    assert normalise([3.0, 2.0, 1.0], "minmax") == [1.0, 0.5, 0.0]
    assert normalise([4.0, 4.0], "minmax") == [1.0, 1.0]
    assert normalise([3.0, 2.0, 1.0], "zscore") == pytest.approx([math.sqrt(1.5), 0.0, -math.sqrt(1.5)])
    assert normalise([4.0, 4.0], "zscore") == [0.0, 0.0]
    assert normalise([3.0, -1.0], "none") == [3.0, -1.0]
    assert normalise([], "minmax") == []


def test_combsum_minmax_hand_computed() -> None:
    # A -> d1 1, d2 .5, d3 0; B -> d2 1, d4 0.
    fused = combsum([A, B], "minmax")
    assert scores(fused) == pytest.approx({"d1": 1.0, "d2": 1.5, "d3": 0.0, "d4": 0.0})
    assert order(fused) == ["d2", "d1", "d4", "d3"]


def test_combsum_zscore_hand_computed() -> None:
    # A: mean 2, std sqrt(2/3); B: mean 7.5, std 2.5.
    z = math.sqrt(1.5)
    fused = combsum([A, B], "zscore")
    assert scores(fused) == pytest.approx({"d1": z, "d2": 0.0 + 1.0, "d3": -z, "d4": -1.0})
    assert order(fused) == ["d1", "d2", "d4", "d3"]


def test_combmnz_hand_computed() -> None:
    fused = combmnz([A, B], "minmax")
    assert scores(fused) == pytest.approx({"d1": 1.0, "d2": 1.5 * 2, "d3": 0.0, "d4": 0.0})
    raw = combmnz([A, B], "none")
    assert scores(raw) == pytest.approx({"d1": 3.0, "d2": (2.0 + 10.0) * 2, "d3": 1.0, "d4": 5.0})


def test_weighted_convex_hand_computed() -> None:
    fused = weighted([A, B], [0.25, 0.75], "minmax")
    assert scores(fused) == pytest.approx({"d1": 0.25, "d2": 0.125 + 0.75, "d3": 0.0, "d4": 0.0})
    with pytest.raises(ValueError, match="sum to 1"):
        weighted([A, B], [0.5, 0.6])


def test_fuse_truncates_and_selects_queries() -> None:
    fused = fuse("rrf", [A, B], depth=2, queries=["q1", "q3"])
    assert order(fused) == ["d2", "d1"]
    assert list(fused) == ["q1", "q3"]
    assert fused["q3"] == ()
    assert A["q1"][0] == ScoredDoc("d1", 3.0)  # inputs untouched


SPEC = """
name: fusion-dl19
datasets:
  - {{id: msmarco/trec-dl/dl19-full, name: dl19}}
measures: [nDCG@10, R(rel=2)@100]
systems:
  bm25: {{type: run, path: "${{HARNESS_DATA_ROOT}}/msmarco/trec-dl/runs/bm25-{{dataset}}.trec"}}
  tas-b: {{type: run, path: "${{HARNESS_DATA_ROOT}}/msmarco/trec-dl/runs/tas-b-{{dataset}}.trec"}}
{extra}
"""


def write_spec(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(extra=extra), encoding="utf-8")
    return path


def aggregates(out: Path) -> dict[str, dict[str, float]]:
    data = json.loads((out / "results.json").read_text())
    return {c["system"]: c["aggregate"] for c in data["cells"]}


def test_fuse_and_use_stages_on_dl19(tmp_path: Path) -> None:
    # Fusion is declared before its inputs: the runner orders systems by what they read.
    extra = "\n".join(
        [
            "  rrf: {type: fuse, method: rrf, k: 60, inputs: [bm25, tas-b]}",
            "  combsum: {type: fuse, method: combsum, norm: [minmax, zscore], inputs: [bm25, tas-b]}",
            "  combmnz: {type: fuse, method: combmnz, inputs: [bm25, tas-b]}",
            "  mix: {type: fuse, method: weighted, weights: [0.3, 0.7], inputs: [bm25, tas-b]}",
            "  top10: {type: use, system: tas-b, depth: 10}",
        ]
    )
    spec = write_spec(tmp_path, extra)
    code, _out, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 0, err
    agg = aggregates(tmp_path / "out")
    assert agg["bm25"]["nDCG@10"] == pytest.approx(0.5058, abs=5e-5)
    assert agg["tas-b"]["nDCG@10"] == pytest.approx(0.7210, abs=5e-5)
    # Pinned values of this harness (inputs verified against the published runs above; the
    # fusion arithmetic against the hand-computed cases in this file).
    assert agg["rrf"]["nDCG@10"] == pytest.approx(0.6930, abs=5e-5)
    assert agg["rrf"]["R(rel=2)@100"] == pytest.approx(0.6227, abs=5e-5)
    assert agg["combsum@norm=minmax"]["nDCG@10"] == pytest.approx(0.6997, abs=5e-5)
    assert agg["combsum@norm=zscore"]["nDCG@10"] == pytest.approx(0.6480, abs=5e-5)
    assert agg["combmnz"]["nDCG@10"] == pytest.approx(0.6961, abs=5e-5)
    assert agg["mix"]["nDCG@10"] == pytest.approx(0.7285, abs=5e-5)
    # `use` with depth 10 keeps TAS-B's top 10: same nDCG@10, lower recall at 100.
    assert agg["top10"]["nDCG@10"] == pytest.approx(agg["tas-b"]["nDCG@10"], abs=1e-12)
    assert agg["top10"]["R(rel=2)@100"] < agg["tas-b"]["R(rel=2)@100"]

    from harness.data.trec import read_run

    runs = tmp_path / "out" / "runs" / "dl19"
    bm25, tasb, fused = (read_run(runs / f"{n}.trec.gz") for n in ("bm25", "tas-b", "rrf"))
    assert fused == rrf([bm25, tasb], k=60, depth=1000)

    # A second run recomputes nothing; changing an input system recomputes the fusion.
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 0, err
    cells = json.loads((tmp_path / "out" / "results.json").read_text())["cells"]
    assert all(c["resumed"] for c in cells)


def test_fusion_input_that_names_no_system_exits_2(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "  rrf: {type: fuse, method: rrf, inputs: [bm25, tasb]}")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 2
    assert "reads system 'tasb', which the spec does not define" in err
    assert "did you mean 'tas-b'?" in err


def test_use_of_an_unknown_system_exits_2(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "  top: {type: use, system: bm42, depth: 10}")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 2
    assert "'bm42'" in err
    assert "did you mean 'bm25'?" in err


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ("{type: fuse, method: weighted, inputs: [bm25, tas-b]}", "needs weights"),
        ("{type: fuse, method: weighted, weights: [0.5, 0.6], inputs: [bm25, tas-b]}", "sum"),
        ("{type: fuse, method: rrf, weights: [1.0], inputs: [bm25, tas-b]}", "one weight per input"),
        ("{type: fuse, method: rrf, inputs: [bm25]}", "inputs"),
        ("{type: fuse, method: borda, inputs: [bm25, tas-b]}", "method"),
    ],
)
def test_bad_fusion_parameters_exit_2(tmp_path: Path, stage: str, message: str) -> None:
    spec = write_spec(tmp_path, f"  fused: {stage}")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 2, err
    assert message in err
    assert "spec.yaml:" in err


def test_fusion_over_a_sweep_must_name_one_variant(tmp_path: Path) -> None:
    extra = "\n".join(
        [
            "  cut: {type: use, system: tas-b, depth: [10, 100]}",
            "  rrf: {type: fuse, inputs: [bm25, cut]}",
        ]
    )
    spec = write_spec(tmp_path, extra)
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 2
    assert "cut@depth=10" in err
    fixed = write_spec(tmp_path, extra.replace("[bm25, cut]", "[bm25, cut@depth=10]"))
    code, _, err = run_cli("run", str(fixed), "-o", str(tmp_path / "out"), "-q")
    assert code == 0, err


@pytest.mark.slow
def test_rrf_of_bm25_and_minilm_on_scifact_beats_both(tmp_path: Path) -> None:
    """Acceptance: RRF(BM25, all-MiniLM-L6-v2 exact), k=60, on the 300 SciFact test queries.
    Measured: BM25 0.6762 / 0.9127, MiniLM 0.6451 / 0.9250, RRF 0.7149 / 0.9550 (nDCG@10 / R@100)."""
    path = tmp_path / "spec.yaml"
    path.write_text(
        """
name: scifact-rrf
datasets: [beir/scifact/test]
measures: [nDCG@10, R@100]
latency: {mode: batch}
systems:
  bm25: {type: bm25, k1: 0.9, b: 0.4, depth: 1000}
  minilm: {type: dense, model: all-MiniLM-L6-v2, index: flat, depth: 1000}
  rrf: {type: fuse, method: rrf, k: 60, inputs: [bm25, minilm], depth: 1000}
""",
        encoding="utf-8",
    )
    code, out, err = run_cli("run", str(path), "-o", str(tmp_path / "out"), "-q", "--no-report")
    assert code == 0, err
    print(out)
    agg = aggregates(tmp_path / "out")
    assert agg["bm25"]["nDCG@10"] == pytest.approx(0.6762, abs=5e-5)
    assert agg["minilm"]["nDCG@10"] == pytest.approx(0.6451, abs=5e-4)
    assert agg["rrf"]["nDCG@10"] == pytest.approx(0.7149, abs=5e-4)
    assert agg["rrf"]["R@100"] == pytest.approx(0.9550, abs=5e-4)
    for measure in ("nDCG@10", "R@100"):
        assert agg["rrf"][measure] > max(agg["bm25"][measure], agg["minilm"][measure])
