"""The top level of a spec file as a pydantic model, and one-line messages for its errors.

Every settings section is typed (harness.sections), so pydantic checks every key at every
depth when the spec loads; `harness.validation.format_pydantic` turns its first error into a
message that names the key, the keys valid there (with a did-you-mean) and its location.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.data.ref import DatasetRef
from harness.sections import (
    CompareConfig,
    ExecutorConfig,
    GateRules,
    LatencyConfig,
    OnlineConfig,
    ReportConfig,
    Settings,
    TrackingConfig,
)

DEFAULT_MEASURES = ("nDCG@10", "RR@10", "R@100", "AP")


class ExperimentSpec(BaseModel):
    """The top level of a spec file. Systems are validated by their stages' own parameter models."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1)
    description: str = ""
    datasets: list[DatasetRef] = Field(min_length=1)
    measures: list[str] = Field(default_factory=lambda: list(DEFAULT_MEASURES), min_length=1)
    systems: dict[str, Any] = Field(min_length=1)
    output: str | None = None
    report: ReportConfig = Field(default_factory=ReportConfig)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    gate: GateRules = Field(default_factory=GateRules)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    online: OnlineConfig | None = None

    @field_validator("datasets", mode="before")
    @classmethod
    def _strings_are_ids(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"id": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("online", mode="before")
    @classmethod
    def _online_given(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("the section is empty: write `online: {}` for the defaults, or leave it out")
        return v

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
            raise ValueError("use letters, digits, '.', '_' and '-' only (it names the output folder)")
        return v

    def settings(self) -> Settings:
        return Settings(
            latency=self.latency,
            compare=self.compare,
            gate=self.gate,
            report=self.report,
            executor=self.executor,
            tracking=self.tracking,
            online=self.online,
        )
