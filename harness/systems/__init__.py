"""Retrieval stages. Each module registers one stage type; a system is a list of stages.

The runner never branches on type names: it looks the type up in `STAGES`, validates the
stage's parameters with the stage's own `Params` model, and calls `prepare` then `search`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from harness.data.dataset import Dataset
from harness.errors import SystemConfigError
from harness.records import Query, Run
from harness.registry import Registry


class StageParams(BaseModel):
    """Base of every stage's parameters: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrieverParams(StageParams):
    """Parameters shared by first-stage retrievers."""

    depth: int = Field(default=1000, gt=0, description="documents returned per query")
    ignore_identical_ids: bool = Field(
        default=False,
        description="drop a document whose id equals the query id (ArguAna-style collections)",
    )


@dataclass(frozen=True)
class StageContext:
    """What a stage may use besides its parameters."""

    base_dir: Path
    data_root: Path
    dataset: Dataset
    progress: bool = True
    runs: Mapping[str, Run] = field(default_factory=dict)
    """Finished runs of other systems of the same spec on this dataset, by system name
    (variant name, and base name where the base has one variant). Stages that combine
    systems (fusion, `use`) declare what they need through `dependencies`."""


class Stage(ABC):
    """One step of a pipeline. A first stage gets `previous=None`; later ones re-rank it."""

    Params: ClassVar[type[StageParams]]
    first_stage: ClassVar[bool] = True

    def __init__(self, params: StageParams, ctx: StageContext) -> None:
        self.params = params
        self.ctx = ctx

    @classmethod
    def dependencies(cls, params: StageParams) -> list[str]:
        """Names of other systems of the spec whose runs this stage reads from ctx.runs."""
        return []

    def input_fingerprint(self) -> str:
        """Content hash of inputs the parameters only name (files); part of the cache key."""
        return ""

    def prepare(self) -> None:  # noqa: B027 - optional hook, most stages index here
        """Offline work for the dataset (indexing, encoding). Timed apart from search."""

    @abstractmethod
    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        """Online work: rankings for `queries`."""


STAGES: Registry[type[Stage]] = Registry("system type", "harness.systems", SystemConfigError)
