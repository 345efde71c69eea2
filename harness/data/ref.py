"""How a spec refers to a dataset."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class QuerySubset(BaseModel):
    """Evaluate the first N judged queries, or a seeded random sample of N."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    first: int | None = Field(default=None, gt=0)
    sample: int | None = Field(default=None, gt=0)
    seed: int = Field(default=0, ge=0, description="Random(-n) draws what Random(n) draws")

    @model_validator(mode="after")
    def _one_rule(self) -> QuerySubset:
        if (self.first is None) == (self.sample is None):
            raise ValueError("give exactly one of 'first' or 'sample'")
        return self

    def describe(self) -> str:
        return f"first={self.first}" if self.first is not None else f"sample={self.sample},seed={self.seed}"


class DatasetRef(BaseModel):
    """A dataset: an id (local data root first, then ir_datasets), a BEIR folder `path`,
    or TREC files (`topics` + `qrels`, optional BEIR-style `corpus`). Exactly one of the three;
    a key that the chosen kind would ignore is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str | None = Field(default=None, min_length=1)
    path: str | None = Field(default=None, min_length=1)
    split: str | None = Field(default=None, min_length=1)
    name: str | None = Field(default=None, min_length=1)
    corpus: str | None = Field(default=None, min_length=1)
    topics: str | None = Field(default=None, min_length=1)
    qrels: str | None = Field(default=None, min_length=1)
    queries: QuerySubset | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DatasetRef:
        trec = [k for k in ("topics", "qrels", "corpus") if getattr(self, k) is not None]
        kinds = [k for k in ("id", "path") if getattr(self, k) is not None] + (["topics/qrels/corpus"] if trec else [])
        if not kinds:
            raise ValueError("a dataset needs 'id', 'path', or both 'topics' and 'qrels'")
        if len(kinds) > 1:
            raise ValueError(
                f"a dataset has one source, but this one gives {' and '.join(repr(k) for k in kinds)}: "
                "keep 'id', 'path', or 'topics' + 'qrels' (+ 'corpus')"
            )
        if trec and (self.topics is None or self.qrels is None):
            raise ValueError("TREC files need both 'topics' and 'qrels' ('corpus' is optional)")
        if trec and self.split is not None:
            raise ValueError("'split' applies to 'id' and 'path'; with TREC files the 'qrels' file is the split")
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
