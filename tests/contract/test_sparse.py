"""SPLADE-tiny learned sparse retrieval on the SciFact slice: scores, caching, no-pickle artefacts.
(Full SciFact: tests/integration/test_acceptance.py, marked slow.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data.dataset import Dataset
from harness.evaluation.measures import evaluate, parse_measures
from harness.systems import StageContext
from harness.systems.sparse import Splade, SpladeParams, bytes_to_sparse, sparse_to_bytes

N_DOCS = 200  # documents in the scifact_slice fixture (tests/conftest.py)
FAST = {"model": "splade-tiny", "max_length": 64, "batch_size": 16}  # as in test_contract: shared cache


@pytest.fixture(scope="module")
def stage(module_cache: None, scifact_slice: Dataset, data_root: Path) -> Splade:
    s = Splade(
        SpladeParams.model_validate({**FAST, "depth": 100}), StageContext(Path("."), data_root, scifact_slice, False)
    )
    s.prepare()
    return s


def test_scores_are_sparse_dot_products(stage: Splade, scifact_slice: Dataset) -> None:
    queries = list(scifact_slice.queries.values())
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


def test_real_effectiveness_on_slice(stage: Splade, scifact_slice: Dataset) -> None:
    run = stage.search(list(scifact_slice.queries.values()), None)
    ev = evaluate(scifact_slice.qrels, run, parse_measures(["nDCG@10", "R@100"]))
    assert ev.aggregate["nDCG@10"] == pytest.approx(0.7622, abs=0.02)  # max_length 64 on this slice
    assert ev.aggregate["R@100"] == 1.0


def test_costs_and_cache_hit(stage: Splade, scifact_slice: Dataset, data_root: Path) -> None:
    c = stage.costs
    assert c["docs"] == N_DOCS
    assert c["vocab"] == 30522
    assert 20 < c["terms_per_doc"] < 1000
    again = Splade(SpladeParams.model_validate(FAST), StageContext(Path("."), data_root, scifact_slice, False))
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
