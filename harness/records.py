"""Typed immutable records exchanged between data sources, systems and evaluation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from operator import itemgetter
from typing import NamedTuple


class Doc(NamedTuple):
    doc_id: str
    title: str
    text: str

    def default_text(self) -> str:
        """Title and body joined the way BEIR and Anserini's flat indexes do."""
        if self.title:
            return f"{self.title} {self.text}"
        return self.text


class Query(NamedTuple):
    query_id: str
    text: str


class ScoredDoc(NamedTuple):
    doc_id: str
    score: float


# (score, doc_id) in C: a lambda building the same key costs a Python call per document.
_TREC_KEY = itemgetter(1, 0)


def trec_order(docs: Iterable[ScoredDoc]) -> tuple[ScoredDoc, ...]:
    """Order as trec_eval does: score descending, ties by doc id descending (rank ignored)."""
    return tuple(sorted(docs, key=_TREC_KEY, reverse=True))


Ranking = Callable[[], Iterable[ScoredDoc]]
"""A ranking not built yet: called once, when its query is first read."""


class Run(Mapping[str, tuple[ScoredDoc, ...]]):
    """An immutable ranking per query, always held in trec_eval order.

    `Run.deferred` takes rankings that are built when first read: a retriever whose library
    answers in arrays hands those over as they are, so that turning a thousand hits into records
    is not counted as its search time (a one-stage system's run is first read by the
    evaluation, after the clock has stopped). The records read back are the same either way."""

    __slots__ = ("_by_query",)

    def __init__(self, by_query: Mapping[str, Iterable[ScoredDoc]]) -> None:
        self._by_query: dict[str, tuple[ScoredDoc, ...] | Ranking] = {
            qid: trec_order(docs) for qid, docs in by_query.items()
        }

    @classmethod
    def deferred(cls, by_query: Mapping[str, Iterable[ScoredDoc] | Ranking]) -> Run:
        """A run of which the callable entries are built (and put in trec_eval order) when
        their query is first read; the others are ordered now."""
        run = cls({})
        run._by_query = {qid: docs if callable(docs) else trec_order(docs) for qid, docs in by_query.items()}
        return run

    def __getitem__(self, query_id: str) -> tuple[ScoredDoc, ...]:
        docs = self._by_query[query_id]
        if isinstance(docs, tuple):
            return docs
        built = self._by_query[query_id] = trec_order(docs())
        return built

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_query)

    def __len__(self) -> int:
        return len(self._by_query)

    def truncated(self, depth: int) -> Run:
        return Run({qid: docs[:depth] for qid, docs in self.items()})

    def as_dict(self) -> dict[str, dict[str, float]]:
        """The nested dict pytrec_eval takes."""
        return {qid: {d.doc_id: d.score for d in docs} for qid, docs in self.items()}

    def __repr__(self) -> str:
        n = sum(len(v) for v in self.values())
        return f"Run({len(self)} queries, {n} scored docs)"


Qrels = Mapping[str, Mapping[str, int]]
"""query id -> doc id -> relevance grade."""
