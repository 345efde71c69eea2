"""Training examples for a bi-encoder, from a dataset the spec names: each training query with
each of its relevant documents, and hard negatives mined by the harness's own BM25 (the top
`depth` documents, first `per_query` that are not judged relevant).

Training must never see what is evaluated: `check_disjoint` refuses a training set that shares
queries with the evaluated dataset of the same collection (e.g. `beir/scifact/test` as training
data for a SciFact test run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.data.dataset import Dataset
from harness.errors import SpecError
from harness.systems import StageContext


class NegativesConfig(BaseModel):
    """`negatives:` of a training recipe: hard negatives mined per training query."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    from_: Literal["bm25"] = Field(default="bm25", alias="from")
    depth: int = Field(default=50, gt=0, le=1000, description="mine among this many top documents")
    per_query: int = Field(default=1, gt=0, le=10, description="hard negatives per training example")

    @model_validator(mode="after")
    def _fits(self) -> NegativesConfig:
        if self.per_query > self.depth:
            raise ValueError(f"per_query ({self.per_query}) cannot exceed depth ({self.depth}): mining looks that deep")
        return self


@dataclass(frozen=True)
class Example:
    query: str
    positive: str
    negatives: tuple[str, ...]
    query_id: str
    positive_id: str
    negative_ids: tuple[str, ...]


@dataclass(frozen=True)
class TrainingSet:
    examples: list[Example]
    queries: int
    mining_s: float
    without_negatives: int
    """Examples dropped because the mined depth held too few non-relevant documents."""


def check_disjoint(train: Dataset, evaluated: Dataset) -> None:
    """Refuse training data that holds queries of the evaluated dataset (same collection)."""
    same_collection = train.location.split("#", 1)[0] == evaluated.location.split("#", 1)[0]
    shared = set(train.queries) & set(evaluated.queries)
    if train.fingerprint == evaluated.fingerprint or (same_collection and shared):
        raise SpecError(
            f"training data '{train.name}' holds {len(shared)} queries of the evaluated dataset '{evaluated.name}'",
            hint="train on a split the spec does not evaluate: a model trained on the evaluated queries is not "
            "evaluated, it is memorised",
        )


def training_set(
    train: Dataset, negatives: NegativesConfig | None, ctx: StageContext, limit: int | None
) -> TrainingSet:
    """One example per (query, relevant document) of `train`'s first `limit` queries, with mined
    negatives when `negatives` is given."""
    queries = list(train.queries)[:limit] if limit else list(train.queries)
    mined: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    if negatives is not None:
        mined = _mine(train, queries, negatives, ctx)
    mining_s = time.perf_counter() - t0
    examples, dropped = [], 0
    for qid in queries:
        relevant = [d for d, g in train.qrels.get(qid, {}).items() if g > 0 and d in train.docs]
        picked = tuple(mined.get(qid, [])[: negatives.per_query]) if negatives else ()
        for doc in relevant:
            if negatives is not None and len(picked) < negatives.per_query:
                dropped += 1
                continue
            examples.append(
                Example(
                    query=train.queries[qid].text,
                    positive=train.docs[doc].default_text(),
                    negatives=tuple(train.docs[n].default_text() for n in picked),
                    query_id=qid,
                    positive_id=doc,
                    negative_ids=picked,
                )
            )
    if not examples:
        raise SpecError(
            f"training data '{train.name}' gives no example (no judged relevant document in the corpus"
            + (", or no non-relevant one among the mined documents)" if negatives else ")"),
            hint="check the training split's qrels, or raise negatives.depth",
        )
    return TrainingSet(examples, len(queries), mining_s, dropped)


def _mine(train: Dataset, queries: list[str], negatives: NegativesConfig, ctx: StageContext) -> dict[str, list[str]]:
    from harness.systems.bm25 import BM25, BM25Params

    stage = BM25(BM25Params(depth=negatives.depth), StageContext(ctx.base_dir, ctx.data_root, train, progress=False))
    stage.prepare()
    run = stage.search([train.queries[q] for q in queries], None)
    out: dict[str, list[str]] = {}
    for qid in queries:
        judged = train.qrels.get(qid, {})
        out[qid] = [d.doc_id for d in run.get(qid, ()) if judged.get(d.doc_id, 0) <= 0]
    return out
