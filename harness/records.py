"""Typed immutable records exchanged between data sources, systems and evaluation."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
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


def trec_order(docs: Iterable[ScoredDoc]) -> tuple[ScoredDoc, ...]:
    """Order as trec_eval does: score descending, ties by doc id descending (rank ignored)."""
    return tuple(sorted(docs, key=lambda d: (d.score, d.doc_id), reverse=True))


class Run(Mapping[str, tuple[ScoredDoc, ...]]):
    """An immutable ranking per query, always held in trec_eval order."""

    __slots__ = ("_by_query",)

    def __init__(self, by_query: Mapping[str, Iterable[ScoredDoc]]) -> None:
        self._by_query: dict[str, tuple[ScoredDoc, ...]] = {qid: trec_order(docs) for qid, docs in by_query.items()}

    def __getitem__(self, query_id: str) -> tuple[ScoredDoc, ...]:
        return self._by_query[query_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_query)

    def __len__(self) -> int:
        return len(self._by_query)

    def truncated(self, depth: int) -> Run:
        return Run({qid: docs[:depth] for qid, docs in self._by_query.items()})

    def as_dict(self) -> dict[str, dict[str, float]]:
        """The nested dict pytrec_eval takes."""
        return {qid: {d.doc_id: d.score for d in docs} for qid, docs in self._by_query.items()}

    def __repr__(self) -> str:
        n = sum(len(v) for v in self._by_query.values())
        return f"Run({len(self)} queries, {n} scored docs)"


Qrels = Mapping[str, Mapping[str, int]]
"""query id -> doc id -> relevance grade."""
