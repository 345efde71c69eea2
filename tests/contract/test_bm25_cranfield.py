"""BM25 and empty text on real data: Cranfield's two empty documents (see the data README) are
left out and never retrieved. (Hand-computed BM25 on empty text: tests/unit/test_bm25_empty.py.)"""

from __future__ import annotations

from pathlib import Path

from harness.data.dataset import Dataset
from harness.data.ref import DatasetRef
from harness.data.resolve import load_dataset
from harness.systems import StageContext
from harness.systems.bm25 import BM25, BM25Params


def test_cranfield_empty_documents_are_never_retrieved(data_root: Path) -> None:
    # Cranfield docs 471 and 995 are empty in the source (data README).
    ds = load_dataset(DatasetRef(id="classic/cranfield/test"), data_root)
    first = list(ds.queries.values())[:25]
    small = Dataset(
        name="cranfield-25", source="test", location="x", docs=ds.docs, queries={q.query_id: q for q in first}, qrels={}
    )
    stage = BM25(BM25Params(depth=1400), StageContext(Path("."), data_root, small, False))
    stage.prepare()
    assert stage.costs["empty_docs"] == 2
    run = stage.search(first, None)
    retrieved = {d.doc_id for q in first for d in run[q.query_id]}
    assert not retrieved & {"471", "995"}
    assert all(d.score > 0 for q in first for d in run[q.query_id])
