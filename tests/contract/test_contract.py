"""Contract tests: every registered system type, on a small slice of real data, with real models.

The slice is 200 SciFact documents (the judged ones of the first 10 test queries, then corpus
order) and those 10 queries. Types are picked up from `STAGES.names()`, so a new type is tested
as soon as it registers; it needs an entry in CONTRACT_PARAMS (its minimal parameters), and the
test says so when it is missing.

- first stages (first_stage=True) run with `previous=None`;
- later stages (first_stage=False) re-rank a BM25 run of the slice;
- systems that read other systems' runs (`dependencies`) get that BM25 run under each name.

Every type must return a ranking for every query, respect its depth, return only documents of
the corpus, give the same run on a repeat (a fresh stage, so cached artefacts are reused), and
give a query alone the ranking it gets in the batch (the pipeline times queries one at a time).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.data.dataset import Dataset
from harness.records import Run
from harness.systems import STAGES, RetrieverParams, Stage, StageContext

BM25_DEPTH = 30


def _write_run_file(path: Path, run: Run) -> dict[str, Any]:
    lines = [
        f"{qid} Q0 {d.doc_id} {rank} {d.score:.6f} contract"
        for qid, docs in run.items()
        for rank, d in enumerate(docs, 1)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"path": str(path), "depth": 20}


# Minimal parameters per type: small models settings so that the whole contract stays fast.
# A value may be a callable (tmp folder, BM25 run of the slice) -> params, for types that read files.
CONTRACT_PARAMS: dict[str, dict[str, Any] | Callable[[Path, Run], dict[str, Any]]] = {
    "bm25": {"depth": 50},
    "run": lambda tmp, bm25: _write_run_file(tmp / "contract.trec", bm25),
    "dense": {"model": "all-MiniLM-L6-v2", "max_length": 64, "batch_size": 64, "depth": 50},
    "splade": {"model": "splade-tiny", "max_length": 64, "batch_size": 16, "depth": 50},
    "rerank": {"model": "ms-marco-MiniLM-L-12-v2", "top": 10, "max_length": 128, "batch_size": 16},
    # A ColBERT trained for one step on 8 SciFact train queries: no trained checkpoint installs offline.
    "colbert": {
        "model": {
            "base": "all-MiniLM-L6-v2",
            "train": {
                "data": "beir/scifact/train",
                "max_queries": 8,
                "batch_size": 8,
                "max_steps": 1,
                "max_length": 64,
            },
        },
        "top": 10,
    },
    "fuse": {"inputs": ["contract-a", "contract-b"], "depth": 20},
    "use": {"system": "contract-a", "depth": 20},
}


@pytest.fixture(scope="module")
def bm25_run(scifact_slice: Dataset, data_root: Path) -> Run:
    cls = STAGES.get("bm25")
    stage = cls(
        cls.Params.model_validate({"depth": BM25_DEPTH}), StageContext(Path("."), data_root, scifact_slice, False)
    )
    stage.prepare()
    return stage.search(list(scifact_slice.queries.values()), None)


def _make(name: str, dataset: Dataset, data_root: Path, tmp: Path, bm25: Run) -> tuple[Stage, Run | None]:
    if name not in CONTRACT_PARAMS:
        pytest.fail(f"system type '{name}' has no entry in CONTRACT_PARAMS (tests/contract/test_contract.py): add one")
    raw = CONTRACT_PARAMS[name]
    params_dict = raw(tmp, bm25) if callable(raw) else raw
    cls = STAGES.get(name)
    params = cls.Params.model_validate(params_dict)
    runs = {dep: bm25 for dep in params.reads()}
    ctx = StageContext(tmp, data_root, dataset, progress=False, runs=runs)
    return cls(params, ctx), (None if cls.first_stage else bm25)


def _same(a: Run, b: Run, *, tol: float = 1e-4) -> None:
    assert list(a) == list(b)
    for qid in a:
        assert [d.doc_id for d in a[qid]] == [d.doc_id for d in b[qid]], qid
        for x, y in zip(a[qid], b[qid], strict=True):
            assert math.isclose(x.score, y.score, rel_tol=tol, abs_tol=tol), (qid, x, y)


@pytest.mark.parametrize("name", STAGES.names())
def test_contract(name: str, scifact_slice: Dataset, bm25_run: Run, data_root: Path, tmp_path: Path) -> None:
    stage, previous = _make(name, scifact_slice, data_root, tmp_path, bm25_run)
    queries = list(scifact_slice.queries.values())
    stage.prepare()
    assert isinstance(stage.costs, dict)
    run = stage.search(queries, previous)

    assert isinstance(run, Run)
    assert set(run) == set(scifact_slice.queries), "a ranking for every query"
    depth = stage.params.depth if isinstance(stage.params, RetrieverParams) else None
    for qid, docs in run.items():
        assert docs, f"query {qid} got an empty ranking"
        ids = [d.doc_id for d in docs]
        assert len(ids) == len(set(ids)), f"query {qid}: a document ranked twice"
        assert set(ids) <= set(scifact_slice.docs), f"query {qid}: documents outside the corpus"
        assert all(math.isfinite(d.score) for d in docs)
        if depth is not None:
            assert len(docs) <= depth, f"query {qid}: {len(docs)} documents for depth {depth}"
        if previous is not None:
            assert set(ids) <= {d.doc_id for d in previous[qid]}, "a re-ranker returns candidates only"

    # Real data, real models: the first-ranked document of most queries is a relevant one.
    hits = sum(1 for qid, docs in run.items() if scifact_slice.qrels[qid].get(docs[0].doc_id, 0) > 0)
    assert hits >= 5, f"only {hits}/10 queries have a relevant document first"

    # Deterministic on repeat: a fresh stage (cached artefacts reused) gives the same run.
    again, _ = _make(name, scifact_slice, data_root, tmp_path, bm25_run)
    again.prepare()
    _same(run, again.search(queries, previous))

    # A query alone gets the ranking it gets in the batch.
    one = queries[3]
    alone = stage.search([one], None if previous is None else Run({one.query_id: previous[one.query_id]}))
    assert list(alone) == [one.query_id]
    batch_top = [d.doc_id for d in run[one.query_id][:5]]
    assert [d.doc_id for d in alone[one.query_id][:5]] == batch_top
    for x, y in zip(alone[one.query_id][:5], run[one.query_id][:5], strict=True):
        assert math.isclose(x.score, y.score, rel_tol=1e-3, abs_tol=1e-3)
