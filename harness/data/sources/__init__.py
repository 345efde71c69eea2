"""Dataset sources. Each module registers one `Source`; `resolve` tries them in priority order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.data.ref import DatasetRef
from harness.errors import DataError
from harness.plugins import Registry
from harness.records import Doc, Query


@dataclass(frozen=True)
class Loaded:
    docs: Mapping[str, Doc]
    queries: dict[str, Query]
    qrels: dict[str, dict[str, int]]
    location: str


class Source(Protocol):
    priority: int

    def matches(self, ref: DatasetRef, data_root: Path) -> bool: ...

    def load(self, ref: DatasetRef, data_root: Path) -> Loaded: ...


SOURCES: Registry[Source] = Registry("dataset source", "harness.data.sources", DataError)
