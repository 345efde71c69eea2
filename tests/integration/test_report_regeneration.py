"""`harness run` writes the report, and `harness report` regenerates it byte for byte from
results.json alone, on six DL19 queries of the replayed reference runs. (The report from a
hand-made ResultSet: tests/unit/test_report.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.results import ResultSet
from tests.support import write_spec

pytest.importorskip("matplotlib", reason="the report needs the plots extra: pip install -e '.[plots]'")
pytest.importorskip("jinja2", reason="the report needs the plots extra: pip install -e '.[plots]'")


REPLAY = (
    "name: replay-mini\n"
    "datasets:\n  - {id: msmarco/trec-dl/dl19-full, name: dl19, queries: {first: 6}}\n"
    "measures: [nDCG@10, AP(rel=2)]\n"
    "latency: {warmup: 2}\n"
    "systems:\n"
    '  bm25: {type: run, path: "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/bm25-{dataset}.trec", depth: [10, 100]}\n'
    '  tas-b: {type: run, path: "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/tas-b-{dataset}.trec"}\n'
)


def test_run_writes_report_and_report_regenerates_it_without_runs(tmp_path: Path, data_root: Path) -> None:
    out = tmp_path / "out"
    argv = [
        "run",
        str(write_spec(tmp_path, REPLAY, "replay.yaml")),
        "-o",
        str(out),
        "-q",
        "--data-root",
        str(data_root),
    ]
    assert main(argv) == 0
    html = (out / "report.html").read_bytes()
    md = (out / "report.md").read_bytes()
    plots = {p.name: p.read_bytes() for p in (out / "plots").iterdir()}
    assert len(plots) == 4
    results = ResultSet.load(out)
    cell = results.cell("dl19", "bm25@depth=10")
    assert cell is not None
    assert cell.timing is not None
    assert cell.timing.latency.n == 6
    assert len(cell.timing.samples_ms) == 6
    # A resumed cell keeps the timing recorded when it was computed; --no-report keeps the report.
    assert main([*argv, "--no-report"]) == 0
    assert (out / "report.html").read_bytes() == html
    again = ResultSet.load(out)
    assert [c.resumed for c in again.cells] == [True, True, True]
    assert again.cells[0].timing == results.cells[0].timing
    # Without run files, cell records and plots, the report comes back byte for byte.
    for sub in ("runs", "cells", "plots"):
        shutil.rmtree(out / sub)
    (out / "report.html").unlink()
    results.save(out)  # the first run's results.json
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_bytes() == html
    assert (out / "report.md").read_bytes() == md
    assert {p.name: p.read_bytes() for p in (out / "plots").iterdir()} == plots
