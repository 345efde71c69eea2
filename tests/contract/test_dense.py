"""Dense retrieval with FAISS on the SciFact slice: index types against exact search, sweeps, caching,
errors. (Through the CLI: tests/integration/test_dense_cli.py; full SciFact, slow:
tests/integration/test_acceptance.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cache import ArtefactStore
from harness.data.dataset import Dataset
from harness.errors import SpecError, SystemConfigError
from harness.evaluation.measures import evaluate, parse_measures
from harness.plan import load_plan
from harness.records import Run
from harness.systems import StageContext
from harness.systems.dense import Dense, DenseParams

N_DOCS = 200  # documents in the scifact_slice fixture (tests/conftest.py)
FAST = {"model": "all-MiniLM-L6-v2", "max_length": 64, "batch_size": 64}  # as in test_contract: shared cache


def make(dataset: Dataset, data_root: Path, **params: Any) -> Dense:
    stage = Dense(DenseParams.model_validate({**FAST, **params}), StageContext(Path("."), data_root, dataset, False))
    stage.prepare()
    return stage


@pytest.fixture(scope="module")
def exact(module_cache: None, scifact_slice: Dataset, data_root: Path) -> Dense:
    return make(scifact_slice, data_root, index="flat", depth=10)


def top_ids(run: Run, k: int = 10) -> dict[str, list[str]]:
    return {q: [d.doc_id for d in docs[:k]] for q, docs in run.items()}


def overlap(a: Run, b: Run, k: int = 10) -> float:
    ta, tb = top_ids(a, k), top_ids(b, k)
    return float(np.mean([len(set(ta[q]) & set(tb[q])) / k for q in ta]))


def test_flat_is_exact_inner_product(exact: Dense, scifact_slice: Dataset) -> None:
    queries = list(scifact_slice.queries.values())
    run = exact.search(queries, None)
    q = exact.encoder.encode_queries([x.text for x in queries])
    docs = exact.index.reconstruct_n(0, exact.index.ntotal)
    scores = q @ docs.T
    for i, query in enumerate(queries):
        best = np.argsort(-scores[i], kind="stable")[:10]
        assert [d.doc_id for d in run[query.query_id]] == [exact.doc_ids[j] for j in best]
        np.testing.assert_allclose([d.score for d in run[query.query_id]], scores[i, best], rtol=1e-5, atol=1e-5)
    ev = evaluate(scifact_slice.qrels, exact.search(queries, None), parse_measures(["nDCG@10"]))
    # Real value on this slice (max_length 64); the full-corpus acceptance test is marked slow.
    assert ev.aggregate["nDCG@10"] == pytest.approx(0.8131, abs=0.02)


def test_costs_recorded_and_cached_on_second_prepare(scifact_slice: Dataset, data_root: Path, exact: Dense) -> None:
    again = make(scifact_slice, data_root, index="flat", depth=10)
    c = again.costs
    assert c["cached"] is True
    assert c["encode_s"] == exact.costs["encode_s"] > 0  # the seconds recorded when it was computed
    assert c["docs"] == N_DOCS
    assert c["dim"] == 384
    assert c["index_bytes"] == N_DOCS * 384 * 4
    assert c["model_sha256"] == exact.resolved.files_hash
    assert c["docs_per_s"] == pytest.approx(N_DOCS / c["encode_s"])


@pytest.mark.parametrize(
    ("params", "min_overlap"),
    [
        ({"index": "hnsw", "M": 16, "efSearch": 200}, 1.0),
        ({"index": "ivf", "nlist": 8, "nprobe": 8}, 1.0),  # every cell probed: exact
        ({"index": "sq", "qtype": "8bit"}, 0.9),
        ({"index": "sq", "qtype": "fp16"}, 0.99),
        ({"index": "ivfpq", "nlist": 4, "m": 48, "nbits": 4, "nprobe": 4}, 0.5),
    ],
)
def test_index_types_against_exact(
    params: dict[str, Any], min_overlap: float, exact: Dense, scifact_slice: Dataset, data_root: Path
) -> None:
    queries = list(scifact_slice.queries.values())
    stage = make(scifact_slice, data_root, depth=10, **params)
    assert stage.costs["index"] == params["index"]
    assert stage.costs["index_bytes"] > 0
    assert overlap(stage.search(queries, None), exact.search(queries, None)) >= min_overlap


def test_ivf_recall_grows_with_nprobe(exact: Dense, scifact_slice: Dataset, data_root: Path) -> None:
    queries = list(scifact_slice.queries.values())
    truth = exact.search(queries, None)
    got = [
        overlap(make(scifact_slice, data_root, index="ivf", nlist=16, nprobe=n, depth=10).search(queries, None), truth)
        for n in (1, 4, 16)
    ]
    assert got[0] < got[-1] == 1.0
    assert got == sorted(got)


def test_search_params_not_in_index_key(scifact_slice: Dataset, data_root: Path) -> None:
    store = ArtefactStore()

    def n_indexes() -> int:
        return sum(1 for e in store.entries() if e.kind == "faiss-index")

    before = n_indexes()
    a = make(scifact_slice, data_root, index="hnsw", M=6, efConstruction=20, efSearch=8)
    b = make(scifact_slice, data_root, index="hnsw", M=6, efConstruction=20, efSearch=128)
    assert n_indexes() == before + 1
    assert (a.costs["cached"], b.costs["cached"]) == (False, True)
    assert b.costs["index_build_s"] == a.costs["index_build_s"]


def _ctx_none() -> StageContext:
    empty = Dataset(name="empty", source="test", location="", docs={}, queries={}, qrels={})
    return StageContext(Path("."), Path("."), empty, False)


def test_index_as_nested_mapping_and_sweeps(tmp_path: Path) -> None:
    over = Dense(DenseParams(model="all-MiniLM-L6-v2", pooling="cls", normalize=False), _ctx_none())._resolved()
    assert (over.spec.pooling, over.spec.normalize) == ("cls", False)
    p = DenseParams.model_validate({"model": "m", "index": {"type": "hnsw", "M": 8, "efSearch": 32}})
    assert (p.index, p.M, p.efSearch) == ("hnsw", 8, 32)
    with pytest.raises(ValueError, match="unknown index key 'ef'"):
        DenseParams.model_validate({"model": "m", "index": {"type": "hnsw", "ef": 8}})
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: s\ndatasets: [beir/scifact/test]\nsystems:\n"
        "  h: {type: dense, model: all-MiniLM-L6-v2, index: hnsw, efSearch: [16, 64]}\n"
        "  i: {type: dense, model: all-MiniLM-L6-v2, index: ivf, nlist: 32, nprobe: [1, 4, 32]}\n",
        encoding="utf-8",
    )
    names = [v.name for v in load_plan(spec).systems]
    assert names == ["h@efSearch=16", "h@efSearch=64", "i@nprobe=1", "i@nprobe=4", "i@nprobe=32"]
    spec.write_text(
        "name: s\ndatasets: [beir/scifact/test]\nsystems:\n  h: {type: dense, model: x, index: annoy}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match="index"):
        load_plan(spec)


def test_faiss_rejections_are_config_errors(scifact_slice: Dataset, data_root: Path) -> None:
    with pytest.raises(SystemConfigError, match=r"FAISS rejected the 'ivfpq' index .*multiple of the number"):
        make(scifact_slice, data_root, index="ivfpq", nlist=4, m=7)
    with pytest.raises(SystemConfigError, match=r"nlist=1000 exceeds the 200 documents"):
        make(scifact_slice, data_root, index="ivf", nlist=1000)


def test_a_corpus_larger_than_a_chunk_is_encoded_chunk_by_chunk(
    exact: Dense, scifact_slice: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `encode_chunk: 64`, the 200 documents are read and encoded in four encoder calls (four
    shards), in corpus order: each row is its document's embedding (batches of other lengths
    change only the last bits of bf16), and the chunk size is part of the cache key."""
    import harness.systems._shards as shards

    read: list[int] = []
    docs_of = shards.shard_docs

    def counted(dataset: Dataset, index: int, size: int) -> Any:
        read.append(len(got := docs_of(dataset, index, size)))
        return got

    monkeypatch.setattr(shards, "shard_docs", counted)
    chunked = Dense(DenseParams.model_validate({**FAST, "index": "flat", "depth": 10, "encode_chunk": 64}), exact.ctx)
    chunked.prepare()
    assert read == [64, 64, 64, 8]
    assert chunked.costs["embeddings_cached"] is False  # another key than the one-call embeddings
    assert chunked.doc_ids == exact.doc_ids
    a = exact.index.reconstruct_n(0, N_DOCS)
    b = chunked.index.reconstruct_n(0, N_DOCS)
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() > 0.999
    queries = list(scifact_slice.queries.values())
    assert overlap(chunked.search(queries, None), exact.search(queries, None)) >= 0.95


def test_memory_limited_exact_search_answers_as_the_flat_index(
    exact: Dense, scifact_slice: Dataset, data_root: Path
) -> None:
    """`memory_limit_mb: 0.1` searches the memory-mapped embeddings 65 rows (0.1 MB) at a time:
    four blocks over the 200 documents, merged into the answer FAISS's flat index gives."""
    limited = make(scifact_slice, data_root, index="flat", depth=10, memory_limit_mb=0.1)
    assert limited.index.rows == 65
    assert limited.costs["embeddings_cached"] is True  # the same embeddings as the flat index
    queries = list(scifact_slice.queries.values())
    assert dict(limited.search(queries, None)) == dict(exact.search(queries, None))
    for q in queries[:10]:
        assert limited.search([q], None)[q.query_id] == exact.search([q], None)[q.query_id]
    np.testing.assert_array_equal(limited.index.reconstruct_n(0, N_DOCS), exact.index.reconstruct_n(0, N_DOCS))
    with pytest.raises(ValueError, match="memory_limit_mb bounds exact search: it needs index: flat"):
        DenseParams.model_validate({**FAST, "index": "hnsw", "memory_limit_mb": 1})


@pytest.mark.parametrize(
    "params",
    [
        {"index": "flat"},
        {"index": "ivf", "nlist": 4},
        {"index": "ivfpq", "nlist": 2, "m": 8, "nbits": 4},
        {"index": "sq"},
    ],
)
def test_an_index_filled_in_blocks_is_the_index_filled_at_once(
    exact: Dense, params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filling 64 rows at a time (on disk: one block resident) gives byte for byte the index one
    `add` over the 200 embeddings gives."""
    import faiss

    import harness.systems._faiss_build as faiss_build

    p = DenseParams.model_validate({**FAST, **params})
    emb = exact.index.reconstruct_n(0, N_DOCS)
    whole = faiss.serialize_index(faiss_build.build_index(p, emb))
    monkeypatch.setattr(faiss_build, "FILL_ROWS", 64)
    assert np.array_equal(faiss.serialize_index(faiss_build.build_index(p, emb)), whole)


def test_ivf_is_trained_on_a_fixed_sample_when_the_corpus_outgrows_the_cells(
    exact: Dense, scifact_slice: Dataset, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 10 training points per cell, an IVF of 4 cells trains on 40 of the 200 rows, drawn
    with a fixed seed: built twice it is the same index, it differs from the one trained on all
    rows, its cache key says so, and searching all 4 cells is still exact search."""
    import faiss

    import harness.systems._faiss_build as faiss_build

    p = DenseParams.model_validate({**FAST, "index": "ivf", "nlist": 4, "nprobe": 4, "depth": 10})
    emb = exact.index.reconstruct_n(0, N_DOCS)
    on_all = faiss.serialize_index(faiss_build.build_index(p, emb))
    assert faiss_build.training_rows(p, N_DOCS) is None
    assert faiss_build.train_key(p, N_DOCS) == {}
    monkeypatch.setattr(faiss_build, "TRAIN_PER_CELL", 10)
    assert faiss_build.training_rows(p, N_DOCS) == 40
    assert faiss_build.train_key(p, N_DOCS) == {"train_rows": 40, "train_seed": faiss_build.TRAIN_SEED}
    sampled = faiss.serialize_index(faiss_build.build_index(p, emb))
    assert np.array_equal(sampled, faiss.serialize_index(faiss_build.build_index(p, emb)))
    assert not np.array_equal(sampled, on_all)
    stage = make(scifact_slice, data_root, index="ivf", nlist=4, nprobe=4, depth=10)
    queries = list(scifact_slice.queries.values())
    assert top_ids(stage.search(queries, None)) == top_ids(exact.search(queries, None))
