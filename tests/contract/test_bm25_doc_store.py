"""BM25 over the TREC-DL passage pool (27,274 MS MARCO passages, DL19 judgments) reads its corpus
from the document store and its index from the cache, memory-mapped: the runs are the ones the
in-memory corpus gives, whichever bm25s backend searches, and equal to bm25s itself ranking every
passage (trec_eval order, cut at depth 1000). numba is in the `dev` extra, so CI runs both."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data.dataset import Dataset
from harness.data.doc_store import DocStore
from harness.data.ref import DatasetRef
from harness.data.resolve import load_dataset
from harness.records import Run, ScoredDoc
from harness.systems import StageContext
from harness.systems.bm25 import BM25, BM25Params

DL19 = DatasetRef(id="msmarco/trec-dl", split="dl19")


def _run(dataset: Dataset, backend: str) -> dict[str, tuple[ScoredDoc, ...]]:
    stage = BM25(BM25Params(backend=backend), StageContext(Path("."), Path("."), dataset, False))
    stage.prepare()
    assert stage.costs["backend"] == backend
    return dict(stage.search(list(dataset.queries.values()), None))


def _bm25s_everything(dataset: Dataset, depth: int) -> dict[str, tuple[ScoredDoc, ...]]:
    import bm25s
    import Stemmer

    tok = bm25s.tokenization.Tokenizer(lower=True, stopwords="en", stemmer=Stemmer.Stemmer("english"))
    docs = list(dataset.docs.values())
    texts = [" ".join(t for t in (d.title, d.text) if t) for d in docs]
    ids = tok.tokenize(texts, update_vocab=True, return_as="ids", show_progress=False, allow_empty=False)
    kept = [i for i, t in enumerate(ids) if t]
    retriever = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    retriever.index(([ids[i] for i in kept], tok.get_vocab_dict()), create_empty_token=False, show_progress=False)
    queries = list(dataset.queries.values())
    q_ids = tok.tokenize([q.text for q in queries], update_vocab=False, return_as="ids", show_progress=False)
    found, scores = retriever.retrieve(q_ids, k=len(kept), show_progress=False)
    return dict(
        Run(
            {
                q.query_id: [
                    ScoredDoc(docs[kept[int(d)]].doc_id, float(s))
                    for d, s in zip(found[i], scores[i], strict=True)
                    if s > 0
                ]
                for i, q in enumerate(queries)
            }
        ).truncated(depth)
    )


def test_store_and_memory_and_both_backends_give_bm25s_own_ranking(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("numba", reason="the numba extra (part of dev) is not installed")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    on_disk = load_dataset(DL19, data_root)
    runs = {("disk", backend): _run(on_disk, backend) for backend in ("numpy", "numba")}
    # The in-memory corpus with a cache of its own: its index is built from the dict.
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache-memory"))
    monkeypatch.setenv("HARNESS_CORPUS_IN_MEMORY", "1")
    in_memory = load_dataset(DL19, data_root)
    runs.update({("memory", backend): _run(in_memory, backend) for backend in ("numba", "numpy")})
    assert isinstance(on_disk.docs, DocStore)
    assert not isinstance(in_memory.docs, DocStore)
    assert len(on_disk.docs) == 27_274
    assert on_disk.fingerprint == in_memory.fingerprint
    expected = _bm25s_everything(in_memory, 1000)
    assert len(expected) == 43
    for key, run in runs.items():
        assert run == expected, key
