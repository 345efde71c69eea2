"""BM25 inside the harness's bars: one bar per long step (the cell bar, the stage's tokenising
bar), none drawn by bm25s (its tokenise / index / retrieve bars would nest in the cell's bar);
rankings handed over as arrays and turned into records when first read (Run.deferred)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.plan import load_plan
from harness.records import Query, Run, ScoredDoc
from harness.runner import RunOptions, run_experiment
from harness.systems import StageContext
from harness.systems.bm25 import BM25, BM25Params
from tests.support import memory_dataset, write_spec

TEXTS = {f"d{i}": f"apple banana cherry {'apple ' * (i % 3)}word{i}" for i in range(12)}
QUERIES = {"q1": "apple", "q2": "banana cherry", "q3": "the of", "q4": "word3 apple"}
# tqdm draws "desc: NN%|"; \r separates the redraws of one bar, \n the bars that stay.
BAR = re.compile(r"([^\r\n]*?): +\d+%\|")


def _beir(folder: Path) -> Path:
    folder.mkdir()
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in TEXTS.items())
    )
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\td1\t1\n" for q in QUERIES)
    )
    return folder


def test_only_the_harness_draws_bars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _beir(tmp_path / "tiny")
    spec = write_spec(
        tmp_path,
        f"""
name: bars
datasets: [{{path: {tmp_path / "tiny"}, split: test}}]
measures: [nDCG@10]
systems:
  bm25: {{type: bm25, stemmer: english, stopwords: en, depth: 5}}
latency: {{mode: per-query, warmup: 2, repeats: 2}}
""",
    )
    run_experiment(load_plan(spec), RunOptions(data_root=tmp_path, output=tmp_path / "out", progress=True))
    bars = {m.strip() for m in BAR.findall(capsys.readouterr().err)}
    assert bars == {"bars", "bm25 tokenise"}


def _stage() -> BM25:
    ds = memory_dataset(TEXTS, QUERIES)
    stage = BM25(BM25Params.model_validate({"depth": 8}), StageContext(Path("."), Path("."), ds, False))
    stage.prepare()
    return stage


def test_records_read_back_are_plain_and_the_same_per_query_and_in_batch() -> None:
    stage = _stage()
    queries = [Query(q, t) for q, t in QUERIES.items()]
    batch = stage.search(queries, None)
    assert batch == Run({q.query_id: stage.search([q], None)[q.query_id] for q in queries})
    assert batch["q3"] == ()  # stopwords only: an empty ranking
    assert stage.costs["empty_queries"] == 1
    hits = batch["q1"]
    assert len(hits) == 8  # depth, every document matches "apple"
    assert all(type(d.doc_id) is str and type(d.score) is float and d.score > 0 for d in hits)
    assert list(hits) == sorted(hits, key=lambda d: (d.score, d.doc_id), reverse=True)


def test_deferred_rankings_are_built_once_when_read_in_trec_order() -> None:
    calls = []

    def build() -> list[ScoredDoc]:
        calls.append(1)
        return [ScoredDoc("a", 1.0), ScoredDoc("c", 2.0), ScoredDoc("b", 1.0)]

    run = Run.deferred({"q": build, "e": [], "r": [ScoredDoc("x", 0.5), ScoredDoc("y", 0.5)]})
    assert calls == []
    assert list(run) == ["q", "e", "r"]
    assert len(run) == 3
    assert run["q"] == (ScoredDoc("c", 2.0), ScoredDoc("b", 1.0), ScoredDoc("a", 1.0))
    assert run["q"] is run["q"]
    assert calls == [1]
    assert run["r"] == (ScoredDoc("y", 0.5), ScoredDoc("x", 0.5))
    assert run["e"] == ()
    assert run == Run({"q": build(), "e": [], "r": run["r"]})
    assert run.truncated(1).as_dict() == {"q": {"c": 2.0}, "e": {}, "r": {"y": 0.5}}
