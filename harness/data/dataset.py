"""The one Dataset type every source returns, and its content fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

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
    """sha256 over a canonical serialisation of docs, queries, qrels and the subset rule."""
    h = hashlib.sha256()

    def add(obj: object) -> None:
        h.update(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        h.update(b"\n")

    add({"format": 1, "subset": ds.subset})
    for doc in ds.docs.values():
        add([doc.doc_id, doc.title, doc.text])
    add("queries")
    for q in ds.queries.values():
        add([q.query_id, q.text])
    add("qrels")
    for qid in sorted(ds.qrels):
        add([qid, sorted(ds.qrels[qid].items())])
    return h.hexdigest()
