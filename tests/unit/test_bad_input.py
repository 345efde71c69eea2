"""Bad input: one clear line naming the file (and line) and exit code 2, never a traceback."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.support import assert_one_clear_line, run_cli, write_spec

GOOD_QRELS = "q1 0 d1 1\nq1 0 d2 0\n"
GOOD_RUN = "q1 Q0 d1 1 2.5 t\nq1 Q0 d2 2 1.5 t\n"


def test_malformed_yaml(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "name: x\ndatasets: [beir/scifact/test\nsystems: {}\n")
    code, _, err = run_cli("run", str(spec))
    assert_one_clear_line(code, err, f"{spec}:", "malformed YAML")


def test_unknown_key_lists_valid_keys_with_line(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "name: x\ndatasets: [beir/scifact/test]\nsystemz: {}\nsystems:\n  b: {type: bm25}\n")
    code, _, err = run_cli("run", str(spec))
    assert_one_clear_line(code, err, f"{spec}:3:", "unknown key 'systemz'", "valid keys:", "systems")


def test_unknown_system_param_lists_valid_params(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, "name: x\ndatasets: [beir/scifact/test]\nsystems:\n  b:\n    type: bm25\n    kone: 1.2\n"
    )
    code, _, err = run_cli("run", str(spec))
    assert_one_clear_line(code, err, f"{spec}:6:", "unknown key 'kone'", "k1")


def test_wrong_type_names_field_and_line(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, "name: x\ndatasets: [beir/scifact/test]\nsystems:\n  b:\n    type: bm25\n    k1: lots\n"
    )
    code, _, err = run_cli("run", str(spec))
    assert_one_clear_line(code, err, f"{spec}:6:", "'k1'")


def test_unknown_system_type_suggests(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "name: x\ndatasets: [beir/scifact/test]\nsystems:\n  b: {type: bm52}\n")
    code, _, err = run_cli("run", str(spec))
    assert_one_clear_line(code, err, f"{spec}:4:", "unknown system type 'bm52'", "did you mean 'bm25'")


def test_unknown_measure_suggests(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, "name: x\ndatasets: [beir/scifact/test]\nmeasures: [nDGC@10]\nsystems:\n  b: {type: bm25}\n"
    )
    code, _, err = run_cli("run", str(spec))
    assert_one_clear_line(code, err, f"{spec}:3:", "nDGC@10")


def test_missing_env_variable(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "name: x\ndatasets: [{path: '${NOPE_NOT_SET}/x'}]\nsystems:\n  b: {type: bm25}\n")
    code, _, err = run_cli("run", str(spec))
    assert_one_clear_line(code, err, f"{spec}:2:", "NOPE_NOT_SET")


def test_missing_data_path(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "name: x\ndatasets: [{path: does-not-exist}]\nsystems:\n  b: {type: bm25}\n")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert_one_clear_line(code, err, "does-not-exist", "not found")


def test_unknown_dataset_id_offline(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "name: x\ndatasets: [beir/nosuchset/test]\nsystems:\n  b: {type: bm25}\n")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert_one_clear_line(code, err, "beir/nosuchset/test")


def test_missing_spec_file(tmp_path: Path) -> None:
    code, _, err = run_cli("run", str(tmp_path / "nope.yaml"))
    assert_one_clear_line(code, err, "nope.yaml", "not found")


@pytest.mark.parametrize(
    ("run_text", "qrels_text", "needles"),
    [
        ("q1 Q0 d1 1 2.5\n", GOOD_QRELS, ["run:1", "5 columns", "expected 6"]),
        ("q1 Q0 d1 1 2.5 t\nq1 Q0 d2 2 high t\n", GOOD_QRELS, ["run:2", "'high' is not a number"]),
        ("q1 Q0 d1 1 nan t\n", GOOD_QRELS, ["run:1", "not finite"]),
        ("q1 Q0 d1 1 2 t\nq1 Q0 d1 2 1 t\n", GOOD_QRELS, ["run:2", "appears twice"]),
        ("", GOOD_QRELS, ["run", "empty"]),
        (GOOD_RUN, "q1 0 d1 1\nq1 0 d2\n", ["qrels:2", "3 columns", "expected 4"]),
        (GOOD_RUN, "q1 0 d1 yes\n", ["qrels:1", "'yes' is not an integer"]),
    ],
)
def test_eval_rejects_malformed_files(tmp_path: Path, run_text: str, qrels_text: str, needles: list[str]) -> None:
    (tmp_path / "run").write_text(run_text)
    (tmp_path / "qrels").write_text(qrels_text)
    code, _, err = run_cli("eval", str(tmp_path / "qrels"), str(tmp_path / "run"), "-m", "nDCG@10")
    assert_one_clear_line(code, err, *needles)


def test_truncated_gzip_run(tmp_path: Path) -> None:
    data = gzip.compress(GOOD_RUN.encode() * 200)
    (tmp_path / "run.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "qrels").write_text(GOOD_QRELS)
    code, _, err = run_cli("eval", str(tmp_path / "qrels"), str(tmp_path / "run.gz"))
    assert_one_clear_line(code, err, "run.gz", "truncated gzip")


def test_unknown_measure_on_eval_command(tmp_path: Path) -> None:
    (tmp_path / "run").write_text(GOOD_RUN)
    (tmp_path / "qrels").write_text(GOOD_QRELS)
    code, _, err = run_cli("eval", str(tmp_path / "qrels"), str(tmp_path / "run"), "-m", "nDCG@ten")
    assert_one_clear_line(code, err, "nDCG@ten")


def test_trec_eval_measure_name_points_to_the_ir_measures_name(tmp_path: Path) -> None:
    (tmp_path / "run").write_text(GOOD_RUN)
    (tmp_path / "qrels").write_text(GOOD_QRELS)
    code, _, err = run_cli("eval", str(tmp_path / "qrels"), str(tmp_path / "run"), "-m", "ndcg_cut_10")
    assert_one_clear_line(code, err, "'ndcg_cut_10' is trec_eval's name", "-m nDCG@10")


def test_eval_warns_when_run_and_qrels_share_no_query(tmp_path: Path) -> None:
    (tmp_path / "run").write_text(GOOD_RUN.replace("q1", "q9"))
    (tmp_path / "qrels").write_text(GOOD_QRELS)
    code, out, err = run_cli("eval", str(tmp_path / "qrels"), str(tmp_path / "run"), "-m", "nDCG@10")
    assert code == 0  # trec_eval -c semantics: the judged query scores 0
    assert out.split() == ["nDCG@10", "all", "0.0000"]
    assert "answers none of the 1 judged queries" in err


def test_nested_unknown_key_suggests_and_lists_its_own_keys(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, "name: x\ndatasets:\n  - {id: beir/scifact/test, queries: {frist: 20}}\nsystems:\n  b: {type: bm25}\n"
    )
    code, _, err = run_cli("run", str(spec))
    assert_one_clear_line(
        code, err, f"{spec}:3:", "unknown key 'frist'", "did you mean 'first'?", "valid keys: first, sample, seed"
    )


@pytest.mark.parametrize(
    ("qrels_text", "line"),
    [
        ("q2 0 d1 1\nq1 0 d2 -1\nq1 0 d1 -1\n", 2),  # only -1 (trec_eval's "judged, not relevant" elsewhere)
        ("query-id\tcorpus-id\tscore\nq2\td1\t1\nq1\td1\t-2\n", 3),
    ],
)
def test_a_query_judged_only_with_negative_labels_is_refused_not_crashed(
    tmp_path: Path, qrels_text: str, line: int
) -> None:
    # pytrec_eval dies of a segmentation fault (exit 139) on such a query, e.g. with Bpref and
    # Rprec asked together: the harness refuses it before pytrec_eval sees it.
    (tmp_path / "q").write_text(qrels_text)
    (tmp_path / "r").write_text("q1 Q0 d1 1 2.0 r\nq1 Q0 d2 2 1.0 r\nq2 Q0 d1 1 1.0 r\n")
    code, _, err = run_cli("eval", str(tmp_path / "q"), str(tmp_path / "r"), "-m", "Bpref", "-m", "Rprec")
    assert_one_clear_line(code, err, f"q:{line}:", "query 'q1' is judged only with negative labels", "label of 0")


def test_qrels_from_elsewhere_with_an_only_negative_query_stop_before_pytrec_eval() -> None:
    from harness.errors import EvalError
    from harness.evaluation.measures import evaluate
    from harness.records import Run, ScoredDoc

    run = Run({"q1": [ScoredDoc("d1", 1.0)], "q2": [ScoredDoc("d1", 1.0)]})
    with pytest.raises(EvalError, match="query 'q1' is judged only with negative labels"):
        evaluate({"q1": {"d1": -1}, "q2": {"d1": 1}}, run, ["Bpref", "Rprec"])
    # a negative label beside a non-negative one is scored as trec_eval's code scores it
    import pytrec_eval

    qrels = {"q1": {"d1": -1, "d2": 1, "d3": -3}}
    run2 = Run({"q1": [ScoredDoc("d1", 2.0), ScoredDoc("d2", 1.0), ScoredDoc("d3", 0.5)]})
    got = evaluate(qrels, run2, ["Bpref", "Rprec", "P@1", "AP", "nDCG@10"]).aggregate
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"bpref", "Rprec", "P_1", "map", "ndcg_cut_10"}).evaluate(
        {"q1": {"d1": 2.0, "d2": 1.0, "d3": 0.5}}
    )["q1"]
    names = {"Bpref": "bpref", "Rprec": "Rprec", "P@1": "P_1", "AP": "map", "nDCG@10": "ndcg_cut_10"}
    assert got == pytest.approx({m: ref[t] for m, t in names.items()}, abs=1e-12)
