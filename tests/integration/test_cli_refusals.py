"""The command line on the real data root refuses bad input before any work: one clear line
naming the file (and line), exit code 2. (Bad input that needs no data: tests/unit/test_bad_input.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from tests.support import assert_one_clear_line, run_cli, write_spec

pytestmark = pytest.mark.usefixtures("data_root")  # datasets resolve (and are suggested) from it


def test_empty_queries_file(tmp_path: Path, data_root: Path) -> None:
    folder = tmp_path / "coll"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "hello"}\n')
    (folder / "queries.jsonl").write_text("")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    spec = write_spec(tmp_path, f"name: x\ndatasets: [{{path: {folder}}}]\nsystems:\n  b: {{type: bm25}}\n")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert_one_clear_line(code, err, "queries.jsonl", "queries file is empty")


@pytest.mark.parametrize(
    ("systems", "line", "needles"),
    [
        (
            "  b: {type: bm25, k1: [0.9, 1.2]}\n  f: {type: fuse, inputs: [b@k1=0.8, b@k1=1.2]}\n",
            5,
            ["reads system 'b@k1=0.8', which the spec does not define", "did you mean 'b@k1=0.9'"],
        ),
        (
            "  b: {type: bm25, k1: [0.9, 1.2]}\n  f: {type: fuse, inputs: [b, b@k1=1.2]}\n",
            5,
            ["a sweep of 2 variants", "b@k1=0.9, b@k1=1.2"],
        ),
        ("  b: {type: bm25}\n  d: {type: dense, model: all-MiniLM-L6-v3}\n", 5, ["did you mean 'all-MiniLM-L6-v2'"]),
    ],
)
def test_errors_about_a_system_point_at_its_spec_line(
    tmp_path: Path, systems: str, line: int, needles: list[str]
) -> None:
    spec = write_spec(
        tmp_path, "name: x\ndatasets: [{id: beir/scifact/test, queries: {first: 2}}]\nsystems:\n" + systems
    )
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q", "--no-report")
    assert_one_clear_line(code, err, f"{spec}:{line}:", *needles)


def test_misspelled_local_dataset_suggests_the_local_id(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "name: x\ndatasets:\n  - beir/scifakt/test\nsystems:\n  b: {type: bm25}\n")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert_one_clear_line(code, err, f"{spec}:3:", "did you mean 'beir/scifact/test'?")


@pytest.mark.parametrize(
    ("datasets", "systems", "message"),
    [
        # The spec allows a trailing dot in a system name; the file name drops it.
        ("[beir/scifact/test]", "{bm25: {type: bm25}, bm25.: {type: bm25}}", "systems 'bm25' and 'bm25.'"),
        (
            "[beir/scifact/test, {id: beir/scifact, split: test, name: beir_scifact_test}]",
            "{bm25: {type: bm25}}",
            "datasets 'beir/scifact/test' and 'beir_scifact_test'",
        ),
    ],
)
def test_run_refuses_colliding_names_before_any_work(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str], datasets: str, systems: str, message: str
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: clash\ndatasets: {datasets}\nsystems: {systems}\n")
    out = tmp_path / "out"
    assert main(["run", str(spec), "-o", str(out), "-q", "--data-root", str(data_root)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert str(spec) in err
    assert not out.exists()
