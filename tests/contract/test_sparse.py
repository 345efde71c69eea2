"""SPLADE-tiny learned sparse retrieval: scores, caching, no-pickle artefacts, full SciFact (slow)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.cache import default_root
from harness.data.dataset import Dataset
from harness.data.ref import DatasetRef
from harness.data.resolve import load_dataset
from harness.evaluation.measures import evaluate, parse_measures
from harness.systems import StageContext
from harness.systems.sparse import Splade, SpladeParams, bytes_to_sparse, sparse_to_bytes
from tests.conftest import scifact_slice

N_DOCS, N_QUERIES = 200, 10
SPLADE_NDCG10, SPLADE_R100 = 0.6466, 0.8980  # measured on the full test split (max_length 512, depth 1000)
FAST = {"model": "splade-tiny", "max_length": 64, "batch_size": 16}  # as in test_contract: shared cache


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module-scoped fixtures run before conftest's per-test environment: point them at the
    same temporary cache, so nothing lands in the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        if "HARNESS_CACHE_DIR" not in os.environ:
            mp.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def dataset(data_root: Path) -> Dataset:
    return scifact_slice(data_root, N_DOCS, N_QUERIES)


@pytest.fixture(scope="module")
def stage(module_cache: None, dataset: Dataset, data_root: Path) -> Splade:
    s = Splade(SpladeParams.model_validate({**FAST, "depth": 100}), StageContext(Path("."), data_root, dataset, False))
    s.prepare()
    return s


def test_scores_are_sparse_dot_products(stage: Splade, dataset: Dataset) -> None:
    queries = list(dataset.queries.values())
    run = stage.search(queries, None)
    q = stage.encoder.encode_queries([x.text for x in queries])
    dense_scores = (q @ stage.postings).toarray()
    for i, query in enumerate(queries):
        docs = run[query.query_id]
        assert 0 < len(docs) <= 100
        assert all(d.score > 0 for d in docs)  # documents sharing no term are not retrieved
        col = {d: j for j, d in enumerate(stage.doc_ids)}
        np.testing.assert_allclose([d.score for d in docs], [dense_scores[i, col[d.doc_id]] for d in docs], rtol=1e-5)
        assert docs[0].score == pytest.approx(float(dense_scores[i].max()), rel=1e-6)


def test_real_effectiveness_on_slice(stage: Splade, dataset: Dataset) -> None:
    run = stage.search(list(dataset.queries.values()), None)
    ev = evaluate(dataset.qrels, run, parse_measures(["nDCG@10", "R@100"]))
    assert ev.aggregate["nDCG@10"] == pytest.approx(0.7622, abs=0.02)  # max_length 64 on this slice
    assert ev.aggregate["R@100"] == 1.0


def test_costs_and_cache_hit(stage: Splade, dataset: Dataset, data_root: Path) -> None:
    c = stage.costs
    assert c["docs"] == N_DOCS
    assert c["vocab"] == 30522
    assert 20 < c["terms_per_doc"] < 1000
    again = Splade(SpladeParams.model_validate(FAST), StageContext(Path("."), data_root, dataset, False))
    again.prepare()
    assert again.costs["cached"] is True
    assert again.costs["encode_s"] == c["encode_s"] > 0
    assert (again.postings != stage.postings).nnz == 0


def test_sparse_bytes_are_npz_without_pickle(stage: Splade) -> None:
    data = sparse_to_bytes(stage.postings.T)
    assert data[:2] == b"PK"  # a zip of .npy arrays; load_npz refuses pickled objects
    back = bytes_to_sparse(data)
    assert (back != stage.postings.T.tocsr()).nnz == 0


def test_bad_params_rejected() -> None:
    with pytest.raises(ValueError, match="fields"):
        SpladeParams.model_validate({"fields": ["body"]})
    with pytest.raises(ValueError, match="batch_size"):
        SpladeParams.model_validate({"batch_size": 0})


@pytest.mark.slow
def test_splade_tiny_on_scifact(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_CACHE_DIR")  # full-corpus vectors are worth keeping: the user's cache
    monkeypatch.setenv("HARNESS_CACHE_DIR", os.environ.get("HARNESS_SLOW_CACHE_DIR") or str(default_root()))
    ds = load_dataset(DatasetRef(id="beir/scifact", split="test"), data_root)
    s = Splade(SpladeParams(depth=1000), StageContext(Path("."), data_root, ds, False))
    s.prepare()
    ev = evaluate(ds.qrels, s.search(list(ds.queries.values()), None), parse_measures(["nDCG@10", "R@100"]))
    assert ev.judged == 300
    assert ev.aggregate["nDCG@10"] == pytest.approx(SPLADE_NDCG10, abs=0.003)
    assert ev.aggregate["R@100"] == pytest.approx(SPLADE_R100, abs=0.005)
