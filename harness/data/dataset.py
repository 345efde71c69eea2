"""The one Dataset type every source returns, and its content fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from harness.data.doc_store import DocStore
from harness.records import Doc, Qrels, Query


@dataclass(frozen=True)
class Dataset:
    """Documents, queries and judgments of one split, after any subsetting.

    `queries` holds every query that is evaluated (judged ones, in file order); `qrels` is
    restricted to them. The fingerprint covers all of it and the subsetting rule.
    """

    name: str
    source: str
    location: str
    docs: Mapping[str, Doc]
    queries: Mapping[str, Query]
    qrels: Qrels
    subset: str = "all"
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not isinstance(self.docs, DocStore):  # a store is read-only and stays on disk
            object.__setattr__(self, "docs", MappingProxyType(dict(self.docs)))
        object.__setattr__(self, "queries", MappingProxyType(dict(self.queries)))
        object.__setattr__(self, "qrels", MappingProxyType({q: dict(d) for q, d in self.qrels.items()}))
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint(self))

    def summary(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source": self.source,
            "location": self.location,
            "subset": self.subset,
            "fingerprint": self.fingerprint,
            "docs": len(self.docs),
            "queries": len(self.queries),
            "judgments": sum(len(v) for v in self.qrels.values()),
        }


def fingerprint(ds: Dataset) -> str:
    """sha256 over a canonical serialisation of docs, queries, qrels and the subset rule.

    A corpus in a document store remembers it, keyed by its own fingerprint and a hash of the
    rest: the same value, without reading a million documents on every run."""
    if isinstance(ds.docs, DocStore):
        rest = hashlib.sha256()
        for line in _lines(ds, with_docs=False):
            rest.update(line)
        return ds.docs.remembered("dataset-fingerprint", {"rest": rest.hexdigest()}, lambda: _digest(ds))
    return _digest(ds)


def _digest(ds: Dataset) -> str:
    h = hashlib.sha256()
    for line in _lines(ds, with_docs=True):
        h.update(line)
    return h.hexdigest()


def _lines(ds: Dataset, *, with_docs: bool) -> Iterator[bytes]:
    """The serialisation `fingerprint` hashes (format 1), optionally without the documents."""

    def line(obj: object) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"

    yield line({"format": 1, "subset": ds.subset})
    if with_docs:
        for doc in ds.docs.values():
            yield line([doc.doc_id, doc.title, doc.text])
    yield line("queries")
    for q in ds.queries.values():
        yield line([q.query_id, q.text])
    yield line("qrels")
    for qid in sorted(ds.qrels):
        yield line([qid, sorted(ds.qrels[qid].items())])
