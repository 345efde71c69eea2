"""How a spec refers to a dataset."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class QuerySubset(BaseModel):
    """Evaluate the first N judged queries, or a seeded random sample of N."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first: int | None = Field(default=None, gt=0)
    sample: int | None = Field(default=None, gt=0)
    seed: int = 0

    @model_validator(mode="after")
    def _one_rule(self) -> QuerySubset:
        if (self.first is None) == (self.sample is None):
            raise ValueError("give exactly one of 'first' or 'sample'")
        return self

    def describe(self) -> str:
        return f"first={self.first}" if self.first is not None else f"sample={self.sample},seed={self.seed}"


class DatasetRef(BaseModel):
    """A dataset: an id (local data root first, then ir_datasets), a BEIR folder `path`,
    or TREC files (`topics` + `qrels`, optional BEIR-style `corpus`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    path: str | None = None
    split: str | None = None
    name: str | None = None
    corpus: str | None = None
    topics: str | None = None
    qrels: str | None = None
    queries: QuerySubset | None = None

    @model_validator(mode="after")
    def _has_source(self) -> DatasetRef:
        if not (self.id or self.path or (self.topics and self.qrels)):
            raise ValueError("a dataset needs 'id', 'path', or both 'topics' and 'qrels'")
        return self

    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.id:
            return self.id + (f"/{self.split}" if self.split else "")
        if self.path:
            base = self.path.rstrip("/").split("/")[-1] or self.path
            return f"{base}/{self.split or 'test'}"
        return (self.topics or "trec").rstrip("/").split("/")[-1]
