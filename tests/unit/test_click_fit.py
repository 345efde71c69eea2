"""Fitting click models: parameters recovered from logs simulated from known models on the TREC
DL 2019 BM25 run, `harness clicks fit|sample` end to end, and malformed logs refused with the
file, the line and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.online.click_fit import fit, simulate_log
from harness.online.click_log import read_click_log
from harness.online.click_models import build_click_model
from harness.online.power import stream
from harness.sections import ClickModelConfig
from tests.support import assert_one_clear_line, run_cli

EXAMINATION = [1.0, 0.8, 0.65, 0.55, 0.45, 0.38, 0.3, 0.25, 0.2, 0.15]


def _write(rows: list[tuple[int, str, str, int, int]], path: Path) -> Path:
    body = "".join(f"{s}\t{q}\t{d}\t{p}\t{c}\n" for s, q, d, p, c in rows)
    path.write_text("session\tquery\tdocument\tposition\tclicked\n" + body, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dl19(data_root: Path) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
    from harness.data.qrels import read_qrels
    from harness.data.trec import read_run

    qrels = read_qrels(data_root / "msmarco/trec-dl/qrels/dl19-full.tsv")
    run = read_run(data_root / "msmarco/trec-dl/runs/bm25-dl19.trec")
    return {q: [d.doc_id for d in docs] for q, docs in run.items() if q in qrels}, qrels


def test_pbm_recovers_known_parameters(dl19, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """200,000 impressions of a PBM with given examination (results shuffled, as PBM needs
    documents seen at several ranks): every examination probability and the attractiveness of
    every grade come back within 0.02."""
    rankings, qrels = dl19
    model = build_click_model(
        ClickModelConfig.model_validate({"type": "pbm", "preset": "informational", "examination": EXAMINATION}), 3, 10
    )
    rows = simulate_log(model, rankings, qrels, 200_000, 10, stream(0, "pbm-log"), shuffle=True)
    fitted = fit(read_click_log(_write(rows, tmp_path / "log.tsv")), "pbm", qrels)
    assert fitted.sessions == 200_000
    assert fitted.examination is not None
    assert fitted.attractiveness_by_grade is not None
    assert max(abs(x - y) for x, y in zip(fitted.examination, EXAMINATION, strict=True)) <= 0.02
    truth = model.info.attractiveness
    assert max(abs(x - y) for x, y in zip(fitted.attractiveness_by_grade, truth, strict=True)) <= 0.02


def test_cascade_recovers_attractiveness(dl19, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rankings, qrels = dl19
    truth = [0.2, 0.4, 0.6, 0.8]
    model = build_click_model(
        ClickModelConfig.model_validate({"type": "cascade", "attractiveness": truth, "stop": [1.0] * 4}), 3, 10
    )
    rows = simulate_log(model, rankings, qrels, 100_000, 10, stream(0, "cascade-log"), shuffle=True)
    fitted = fit(read_click_log(_write(rows, tmp_path / "log.tsv")), "cascade", qrels)
    assert fitted.attractiveness_by_grade is not None
    assert max(abs(x - y) for x, y in zip(fitted.attractiveness_by_grade, truth, strict=True)) <= 0.02


def test_sample_then_fit_on_the_command_line(data_root: Path, tmp_path: Path) -> None:
    base = data_root / "msmarco/trec-dl"
    log, out = tmp_path / "log.tsv", tmp_path / "fitted.json"
    code, stdout, err = run_cli(
        "clicks", "sample", "--run", str(base / "runs/bm25-dl19.trec"), "--qrels", str(base / "qrels/dl19-full.tsv"),
        "--sessions", "20000", "-o", str(log),
    )  # fmt: skip
    assert code == 0, err
    assert "20000 sessions, 200000 rows" in stdout
    code, stdout, err = run_cli("clicks", "fit", str(log), "--qrels", str(base / "qrels/dl19-full.tsv"), "-o", str(out))
    assert code == 0, err
    saved = json.loads(out.read_text())
    assert saved["format"] == "harness-click-model/1"
    assert saved["type"] == "pbm"
    # The default examination is 1/rank: rank 2 comes back near 0.5.
    assert abs(saved["examination"][1] - 0.5) < 0.05
    assert "attractiveness by grade (pairs): 0:" in stdout


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("session\tquery\tdocument\tposition\n1\tq\td\t1\n", ["no column clicked"]),
        ("session\tquery\tdocument\tposition\tclicked\n", ["no rows"]),
        ("session\tquery\tdocument\tposition\tclicked\n1\tq\td\t1\t1\n1\tq\te\tx\t0\n", [":3:", "position 'x'"]),
        ("session\tquery\tdocument\tposition\tclicked\n1\tq\td\t1\t2\n", [":2:", "clicked must be 0 or 1"]),
        ("session\tquery\tdocument\tposition\tclicked\n1\tq\td\t0\t1\n", [":2:", "position must be 1 or more"]),
        ("session\tquery\tdocument\tposition\tclicked\n1\tq\td\t1\t1\n1\tq\te\t1\t0\n", [":3:", "position 1 twice"]),
        ("session\tquery\tdocument\tposition\tclicked\n1\tq\td\t1\t1\n1\tr\te\t2\t0\n", [":3:", "mixes queries"]),
        ("session\tquery\tdocument\tposition\tclicked\n1\tq\t\t1\t1\n", [":2:", "empty document"]),
        ("session,query,document,position,clicked\n1,q,d,1,1\n", [":1:", "commas and no tabs"]),
        ("session\tquery\tdocument\tposition\tclicked\n1\tq\td\t1\t1\n1\tq\te\n", [":3:", "cannot read"]),
        ("session\tquery\tdocument\tposition\tclicked\n1\tq\td\t-1\t1\n", [":2:", "whole number of 0 or more"]),
    ],
    ids=[
        "no-clicked-column",
        "no-rows",
        "position-not-number",
        "clicked-2",
        "position-0",
        "same-position",
        "two-queries",
        "empty-doc",
        "commas",
        "short-row",
        "negative-position",
    ],
)
def test_malformed_logs(tmp_path: Path, text: str, needles: list[str]) -> None:
    log = tmp_path / "log.tsv"
    log.write_text(text, encoding="utf-8")
    code, _, err = run_cli("clicks", "fit", str(log))
    assert_one_clear_line(code, err, str(log), *needles)


def test_parquet_rows_are_named(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    log = tmp_path / "log.parquet"
    pq.write_table(
        pa.table(
            {"session": [1, 1], "query": ["q", "q"], "document": ["a", "b"], "position": [1, 3], "clicked": [1, -1]}
        ),
        log,
    )
    code, _, err = run_cli("clicks", "fit", str(log))
    assert_one_clear_line(code, err, "(row 2)", "clicked must be 0 or 1")


def test_fit_with_judgments_missing_a_grade_says_so(dl19, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = [(0, "q", "d", 1, 1), (0, "q", "e", 2, 0)]
    log = _write(rows, tmp_path / "log.tsv")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("q 0 d 2\n", encoding="utf-8")
    code, _, err = run_cli("clicks", "fit", str(log), "--model", "cascade", "--qrels", str(qrels))
    assert_one_clear_line(code, err, "no document of grade 1")


def test_a_comma_separated_log_named_csv_is_read(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("session,query,document,position,clicked\n1,q,d,1,1\n1,q,e,2,0\n", encoding="utf-8")
    parsed = read_click_log(log)
    assert parsed.sessions == 1
    assert parsed.clicked.tolist() == [True, False]


def test_pbm_refuses_a_log_without_rank_variation(dl19, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Unshuffled impressions show every document at one rank: PBM's parameters are then not
    identifiable, and the fit says so instead of printing numbers."""
    rankings, qrels = dl19
    model = build_click_model(ClickModelConfig.model_validate("pbm-informational"), 3, 10)
    rows = simulate_log(model, rankings, qrels, 2000, 10, stream(0, "fixed"), shuffle=False)
    log = _write(rows, tmp_path / "log.tsv")
    code, _, err = run_cli("clicks", "fit", str(log))
    assert_one_clear_line(code, err, "every document of the log is shown at one rank only", "--model cascade")
    assert run_cli("clicks", "fit", str(log), "--model", "cascade")[0] == 0


def test_unsettled_fit_warns_and_mismatched_judgments_are_refused(dl19, tmp_path: Path, data_root: Path) -> None:  # type: ignore[no-untyped-def]
    rankings, qrels = dl19
    model = build_click_model(ClickModelConfig.model_validate("pbm-informational"), 3, 10)
    log = _write(simulate_log(model, rankings, qrels, 20, 10, stream(0, "small"), shuffle=True), tmp_path / "log.tsv")
    code, _, err = run_cli("clicks", "fit", str(log))
    assert code == 0
    assert "warning: EM did not converge in 1000 iterations" in err
    other = str(data_root / "msmarco/trec-dl/qrels/dl20-full.tsv")
    code, _, err = run_cli("clicks", "fit", str(log), "--qrels", other)
    assert_one_clear_line(code, err, "no query of the click log is in the judgments")
    run = str(data_root / "msmarco/trec-dl/runs/bm25-dl19.trec")
    code, _, err = run_cli("clicks", "sample", "--run", run, "--qrels", other, "-o", str(tmp_path / "x.tsv"))
    assert_one_clear_line(code, err, "no query has both a ranking and judgments")
