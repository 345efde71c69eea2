"""Systems of a spec: each stage validated by its type's parameter model, sweeps expanded.

A list given where a stage parameter takes one value is a sweep: the system expands into one
variant per combination, named deterministically (`bm25@k1=0.9,b=0.4`). Only top-level stage
parameters sweep.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import ValidationError

from harness.errors import SpecError
from harness.plan.yaml_source import PathKey, SpecLines
from harness.systems import STAGES, StageParams
from harness.validation import format_pydantic

_SYSTEM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


@dataclass(frozen=True)
class StageConfig:
    """One validated stage: its registered type and its parameter model instance."""

    type: str
    params: StageParams

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params.model_dump(mode="json")}


@dataclass(frozen=True)
class SystemVariant:
    """One concrete system after sweep expansion."""

    name: str
    base: str
    stages: tuple[StageConfig, ...]
    sweep: tuple[tuple[str, Any], ...] = ()

    def config(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.stages]

    def config_hash(self) -> str:
        blob = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _RawStage:
    """One stage as written: its type, parameter model, parameters and swept parameters."""

    stype: str
    model: type[StageParams]
    params: dict[str, Any]
    sweeps: tuple[tuple[str, tuple[Any, ...]], ...]
    path: PathKey


def _is_list_type(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, tuple, Sequence, set, frozenset):
        return True
    return any(_is_list_type(a) for a in get_args(annotation)) if origin is not None else False


def _fmt(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


def _raw_stage(name: str, stage: Any, spath: PathKey, first: bool, where: Path, lines: SpecLines) -> _RawStage:
    if not isinstance(stage, dict):
        raise SpecError(f"system '{name}': a stage must be a mapping with a 'type'", path=where, line=lines.at(spath))
    if "type" not in stage:
        raise SpecError(
            f"system '{name}': stage has no 'type'",
            path=where,
            line=lines.at(spath),
            hint=f"valid types: {', '.join(STAGES.names())}",
        )
    stype = str(stage["type"])
    cls = STAGES.get(stype, path=str(where), line=lines.at((*spath, "type")))
    if first and not cls.first_stage:
        raise SpecError(
            f"system '{name}': '{stype}' needs candidates from a stage before it",
            path=where,
            line=lines.at(spath),
            hint="start the pipeline with a retriever such as bm25, run or use",
        )
    model = cls.Params
    params = {str(k): v for k, v in stage.items() if k != "type"}
    for key in params:
        if key in model.key_hints:  # a name that means something else here
            raise SpecError(
                f"system '{name}': '{key}' is not a {stype} parameter",
                path=where,
                line=lines.at((*spath, key)),
                hint=model.key_hints[key],
            )
    sweeps: list[tuple[str, tuple[Any, ...]]] = []
    for key, value in params.items():
        field = model.model_fields.get(key)
        if isinstance(value, list) and field is not None and not _is_list_type(field.annotation):
            if not value:
                raise SpecError(f"sweep '{key}' is empty", path=where, line=lines.at((*spath, key)))
            sweeps.append((key, tuple(value)))
    return _RawStage(stype, model, params, tuple(sweeps), spath)


def expand_system(name: str, raw: Any, where: Path, lines: SpecLines) -> list[SystemVariant]:
    """The variants of one system of the spec (one unless a parameter sweeps)."""
    if not _SYSTEM_NAME.fullmatch(name):
        raise SpecError(
            f"system name '{name}' must use letters, digits, '.', '_', '+' and '-'",
            path=where,
            line=lines.at(("systems", name)),
        )
    stages_raw = raw if isinstance(raw, list) else [raw]
    if not stages_raw:
        raise SpecError(f"system '{name}' has no stages", path=where, line=lines.at(("systems", name)))
    stages = [
        _raw_stage(name, s, ("systems", name, i) if isinstance(raw, list) else ("systems", name), i == 0, where, lines)
        for i, s in enumerate(stages_raw)
    ]
    axes = [(i, key, values) for i, st in enumerate(stages) for key, values in st.sweeps]
    variants: list[SystemVariant] = []
    for combo in itertools.product(*[values for _, _, values in axes]):
        chosen = {(axes[j][0], axes[j][1]): v for j, v in enumerate(combo)}
        configs = tuple(_validate(name, i, st, chosen, where, lines) for i, st in enumerate(stages))
        sweep = tuple((axes[j][1], v) for j, v in enumerate(combo))
        vname = name + ("@" + ",".join(f"{k}={_fmt(v)}" for k, v in sweep) if sweep else "")
        variants.append(SystemVariant(vname, name, configs, sweep))
    return variants


def _validate(
    name: str, index: int, stage: _RawStage, chosen: dict[tuple[int, str], Any], where: Path, lines: SpecLines
) -> StageConfig:
    concrete = {k: chosen.get((index, k), v) for k, v in stage.params.items()}
    try:
        return StageConfig(stage.stype, stage.model.model_validate(concrete))
    except ValidationError as exc:
        msg, loc = format_pydantic(exc, stage.model)
        raise SpecError(
            f"system '{name}' ({stage.stype}): {msg}", path=where, line=lines.at((*stage.path, *loc))
        ) from None
