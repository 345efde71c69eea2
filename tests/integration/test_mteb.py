"""MTEB's own retrieval evaluation on data the harness loaded, with the harness's encoder as the
model, cross-checked against the harness's evaluation of the same encoder (fp32): on the SciFact
slice here, and on full SciFact against MTEB's published 0.64508 in the slow test."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data.dataset import Dataset
from harness.evaluation.measures import evaluate, parse_measures
from harness.systems import StageContext
from harness.systems.dense import Dense, DenseParams

pytest.importorskip("mteb", reason="the mteb extra (part of dev) is not installed")

MINILM = {"model": "all-MiniLM-L6-v2", "precision": "fp32", "batch_size": 64}


def _harness(dataset: Dataset, data_root: Path, **options: object) -> dict[str, float]:
    stage = Dense(
        DenseParams.model_validate({**MINILM, **options, "index": "flat", "depth": 1000}),
        StageContext(Path("."), data_root, dataset, False),
    )
    stage.prepare()
    run = stage.search(list(dataset.queries.values()), None)
    return dict(evaluate(dataset.qrels, run, parse_measures(["nDCG@10", "R@100", "AP@100"])).aggregate)


def _mteb(dataset: Dataset, **options: object) -> dict[str, float]:
    from harness.mteb_interop import mteb_scores

    return mteb_scores(dataset, "all-MiniLM-L6-v2", task="SciFact", precision="fp32", batch_size=64, **options)


def test_mteb_and_the_harness_agree_on_the_scifact_slice(
    scifact_slice: Dataset, data_root: Path, module_cache: None
) -> None:
    harness = _harness(scifact_slice, data_root, max_length=64)
    mteb = _mteb(scifact_slice, max_length=64)
    assert mteb["ndcg_at_10"] == pytest.approx(harness["nDCG@10"], abs=1e-4)
    assert mteb["recall_at_100"] == pytest.approx(harness["R@100"], abs=1e-4)
    assert mteb["map_at_100"] == pytest.approx(harness["AP@100"], abs=1e-4)
    assert mteb["main_score"] == mteb["ndcg_at_10"]
    assert 0.5 < harness["nDCG@10"] < 1.0  # a real retrieval result, not an empty one


@pytest.mark.slow
def test_mteb_and_the_harness_agree_on_full_scifact_and_with_the_published_number(
    data_root: Path, module_cache: None
) -> None:
    from harness.data.ref import DatasetRef
    from harness.data.resolve import load_dataset

    scifact = load_dataset(DatasetRef(id="beir/scifact", split="test"), data_root)
    harness = _harness(scifact, data_root)
    mteb = _mteb(scifact)
    assert mteb["ndcg_at_10"] == pytest.approx(harness["nDCG@10"], abs=1e-4)
    assert mteb["ndcg_at_10"] == pytest.approx(0.64508, abs=0.0005)  # MTEB's published all-MiniLM-L6-v2


def test_an_unknown_mteb_task_is_one_clear_error(scifact_slice: Dataset) -> None:
    from harness.errors import SpecError
    from harness.mteb_interop import local_task

    with pytest.raises(SpecError, match="'SciFakt' is not an MTEB task"):
        local_task(scifact_slice, "SciFakt")


def test_export_writes_mteb_result_files_that_mteb_reads(tmp_path: Path, data_root: Path) -> None:
    """The main experiment (BM25 on all of SciFact test) as MTEB's SciFact result file, read back
    by MTEB's own TaskResult; a query subset (ci-gate's first 50 queries) is left out, saying why."""
    from mteb.results import TaskResult

    from harness.results import ResultSet
    from tests.support import REPO, run_cli

    out = tmp_path / "out"
    spec = str(REPO / "experiments" / "scifact-bm25.yaml")
    code, _, err = run_cli("run", spec, "-o", str(out), "-q", "--no-report", "--data-root", str(data_root))
    assert code == 0, err
    code, stdout, err = run_cli("export", str(out), "--format", "mteb", "-o", str(tmp_path / "mteb"))
    assert code == 0, err
    path = tmp_path / "mteb" / "bm25" / "harness" / "SciFact.json"
    assert stdout.splitlines() == [str(path)]
    result = TaskResult.from_disk(path)
    (cell,) = ResultSet.load(out).cells
    assert result.task_name == "SciFact"
    assert result.get_score() == pytest.approx(cell.aggregate["nDCG@10"], abs=1e-6)  # MTEB keeps 6 decimals
    (scores,) = result.scores["test"]
    assert scores["recall_at_100"] == pytest.approx(cell.aggregate["R@100"], abs=1e-6)
    assert scores["precision_at_10"] == pytest.approx(cell.aggregate["P@10"], abs=1e-6)
    assert scores["mrr_at_10"] == pytest.approx(cell.aggregate["RR@10"], abs=1e-6)
    assert "map_at_1000" not in scores  # AP has no cut-off: MTEB's map_at_k does not name it

    ci = tmp_path / "ci"
    code, _, err = run_cli(
        "run",
        str(REPO / "experiments" / "ci-gate.yaml"),
        "-o",
        str(ci),
        "-q",
        "--no-report",
        "--data-root",
        str(data_root),
    )
    assert code == 0, err
    code, stdout, _ = run_cli("export", str(ci), "--format", "mteb", "-o", str(tmp_path / "mteb2"))
    assert code == 0
    assert "left out: scifact-50 / bm25: a query subset (first=50), not the task's queries" in stdout
    assert "left out: dl19 / bm25: not a BEIR collection MTEB has a task for" in stdout


def test_mteb_task_names_are_dataset_ids_behind_the_data_root(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mteb:SciFact` is the local BEIR SciFact (same documents, queries, judgments, so the same
    fingerprint and BM25 numbers); a task with no local folder, offline, is one line naming where
    to put it."""
    from harness.data.ref import DatasetRef
    from harness.data.resolve import load_dataset
    from tests.support import assert_one_clear_line, run_cli, write_spec

    by_task = load_dataset(DatasetRef(id="mteb:SciFact"), data_root)
    by_beir = load_dataset(DatasetRef(id="beir/scifact", split="test"), data_root)
    assert by_task.fingerprint == by_beir.fingerprint
    assert (len(by_task.docs), len(by_task.queries)) == (5183, 300)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = write_spec(tmp_path, "name: m\ndatasets: [mteb:FiQA2018]\nsystems:\n  bm25: {type: bm25}\n")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q", "--data-root", str(data_root))
    assert_one_clear_line(code, err, "MTEB could not download task 'FiQA2018'", f"{data_root / 'beir' / 'fiqa'}")
    spec = write_spec(tmp_path, "name: m\ndatasets: [mteb:scifact]\nsystems:\n  bm25: {type: bm25}\n")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q", "--data-root", str(data_root))
    assert_one_clear_line(code, err, "'scifact' is not an MTEB task", "did you mean mteb:SciFact?")
