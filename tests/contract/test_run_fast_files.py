"""The fast run reader on the shared data's real files: trec_eval's fixtures and the DL19 runs
read exactly as the strict reader reads them (plain and gzip), the well-formed ones without
falling back, and measures from arrays equal pytrec_eval's on every DL19 run to 1e-9."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from harness.data import run_fast
from harness.data.run_fast import read_run_table
from harness.data.trec import read_qrels, read_run
from harness.evaluation.measures import evaluate, parse_measure
from harness.evaluation.run_table import RunTable, query_bounds

FIXTURES = ["results.test", "results.trunc", "results-302.test", "results.comment.test", "prefs.results.test"]
MEASURES = ["nDCG@10", "nDCG", "RR@10", "RR", "R@100", "R(rel=2)@1000", "AP", "AP(rel=2)", "P@10", "Success@5",
            "NumRet", "NumRet(rel=2)", "NumRel", "nDCG(judged_only=True)@10", "Bpref"]  # fmt: skip


def as_dict(table: RunTable) -> dict[str, dict[str, float]]:
    order = table.trec_order()
    bounds = query_bounds(table.query, len(table.query_ids))
    return table.as_dicts(order, bounds, None)


def dl19_runs(root: Path) -> list[Path]:
    return sorted((root / "msmarco" / "trec-dl" / "runs").glob("*dl19*"))


@pytest.mark.parametrize("name", FIXTURES)
def test_trec_eval_fixtures_read_as_the_strict_reader_reads_them(trec_eval_dir: Path, name: str) -> None:
    path = trec_eval_dir / name
    assert as_dict(read_run_table(path)) == read_run(path).as_dict()


def test_dl19_runs_read_fast_and_exactly(data_root: Path, tmp_path: Path) -> None:
    runs = dl19_runs(data_root)
    assert len(runs) >= 5
    for path in runs:
        buf, size, _ = run_fast._load(path, None)
        fast = run_fast._fast(buf, size)
        assert fast is not None, path  # well-formed: no fallback
        strict = read_run(path)
        want = strict.as_dict()
        assert as_dict(fast) == want
        assert fast.query_ids == tuple(strict)  # first-seen order, as the strict reader keeps it
        packed = tmp_path / (path.name + ".gz")
        packed.write_bytes(gzip.compress(path.read_bytes()))
        assert as_dict(read_run_table(packed)) == want


def test_measures_on_dl19_equal_pytrec_eval(data_root: Path) -> None:
    import pytrec_eval

    for qrels_name in ("dl19.tsv", "dl19-full.tsv"):
        qrels = read_qrels(data_root / "msmarco" / "trec-dl" / "qrels" / qrels_name)
        for path in dl19_runs(data_root):
            run = read_run(path)
            got = evaluate(qrels, read_run_table(path), MEASURES)
            for name in MEASURES:
                m = parse_measure(name)
                cut = run.truncated(m.depth) if m.depth is not None else run
                ev = pytrec_eval.RelevanceEvaluator(
                    qrels, {m.trec_name}, relevance_level=m.rel, judged_docs_only_flag=m.judged_only
                )
                scores = ev.evaluate({q: {d.doc_id: d.score for d in cut.get(q, ())} for q in qrels})
                want = {q: scores[q][m.trec_name] if q in scores else 0.0 for q in qrels}
                assert all(math.isfinite(v) for v in want.values())
                assert got.per_query[m.name] == pytest.approx(want, abs=1e-9), (path.name, name)
                assert got.aggregate[m.name] == pytest.approx(
                    sum(want.values()) if m.summed else sum(want.values()) / len(want), abs=1e-9
                )
