"""The top level of a spec file as a pydantic model, and one-line messages for its errors.

Every settings section is typed (harness.sections), so pydantic checks every key at every
depth when the spec loads; `format_pydantic` turns its first error into a message that names
the key, the keys valid there (with a did-you-mean) and the error's location in the file.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.data.ref import DatasetRef
from harness.plugins import did_you_mean
from harness.sections import CompareConfig, GateRules, LatencyConfig, ReportConfig, Settings

Loc = tuple[str | int, ...]
DEFAULT_MEASURES = ("nDCG@10", "RR@10", "R@100", "AP")


class ExperimentSpec(BaseModel):
    """The top level of a spec file. Systems are validated by their stages' own parameter models."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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

    @field_validator("datasets", mode="before")
    @classmethod
    def _strings_are_ids(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"id": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
            raise ValueError("use letters, digits, '.', '_' and '-' only (it names the output folder)")
        return v

    def settings(self) -> Settings:
        return Settings(latency=self.latency, compare=self.compare, gate=self.gate, report=self.report)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, unions, lists, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _models_in(a)]


def _model_at(model: type[BaseModel] | None, loc: Loc) -> type[BaseModel] | None:
    """The model whose keys are checked at `loc` (pydantic's error location), if it can be told."""
    candidates = [model] if model is not None else []
    for part in loc:
        if isinstance(part, int):
            continue
        named = [m for m in candidates if m.__name__ == part]  # pydantic names the union branch it tried
        if named:
            candidates = named
            continue
        fields = [m.model_fields[part] for m in candidates if part in m.model_fields]
        if fields:
            candidates = [m for f in fields for m in _models_in(f.annotation)]
        elif not str(part).startswith(("function-", "json-")):
            return None
    return candidates[0] if len(candidates) == 1 else None


def format_pydantic(exc: ValidationError, model: type[BaseModel] | None) -> tuple[str, Loc]:
    """The first error as one line, and its location (for the file's line number)."""
    err = exc.errors()[0]
    loc: Loc = tuple(err["loc"])
    field = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        names = list(owner.model_fields) if owner is not None else []
        hint = did_you_mean(str(loc[-1]), names)  # "did you mean 'x'? " or ""
        msg = f"unknown key '{loc[-1]}'" + (f"; {hint}valid keys: {', '.join(names)}" if names else "")
    elif err["type"] == "missing":
        msg = f"missing required key '{field}'"
    else:
        msg = f"'{field}': {err['msg']} (got {err.get('input')!r})"
    return msg, loc
