"""Systems of a spec: each stage validated by its type's parameter model, sweeps expanded.

A list given where a stage parameter takes one value is a sweep: the system expands into one
variant per combination, named deterministically (`bm25@k1=0.9,b=0.4`). Only top-level stage
parameters sweep. Two values that make the same system (`k1: [1, 1.0]`) are refused, and so
are more than `MAX_VARIANTS` variants in all (sweeps multiply: three lists of 100 values are a
million variants, each run on every dataset).

A pipeline is one stage that starts it (`first_stage`: bm25, dense, splade, run, use, fuse),
then stages that re-rank the ranking before them (rerank). A starting stage anywhere else
would silently discard the ranking before it, so it is refused at its line, as is a re-ranker
with nothing before it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import ValidationError

from harness.errors import HarnessError, SpecError
from harness.plan.yaml_source import PathKey, SpecLines
from harness.systems import STAGES, StageParams
from harness.validation import format_pydantic

_SYSTEM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
MAX_VARIANTS = 10_000
"""System variants of one spec, all systems together."""


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

    def thread_count(self) -> int | None:
        """The threads the cell runs at: the largest `threads` any stage asks for; None (all
        available cores) when none does."""
        asked = [n for s in self.stages if (n := s.params.thread_count()) is not None]
        return max(asked) if asked else None

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


def _check_position(name: str, stype: str, index: int, first_stage: bool, line: int | None, where: Path) -> None:
    if index == 0 and not first_stage:
        raise SpecError(
            f"system '{name}': '{stype}' needs candidates from a stage before it",
            path=where,
            line=line,
            hint="start the pipeline with a retriever such as bm25, run or use",
        )
    if index > 0 and first_stage:
        rerankers = [t for t in STAGES.names() if not STAGES.get(t).first_stage]
        raise SpecError(
            f"stage {index + 1} of system '{name}' ({stype}) ignores the ranking of the stage before it",
            path=where,
            line=line,
            hint=f"'{stype}' starts a pipeline: make it the first stage (or a system of its own, to fuse), "
            f"and follow it only with stages that re-rank their input ({', '.join(rerankers)})",
        )


def _raw_stage(name: str, stage: Any, spath: PathKey, index: int, where: Path, lines: SpecLines) -> _RawStage:
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
    try:
        cls = STAGES.get(stype)
    except HarnessError as exc:  # the registry's own error type: a spec's mistake is a SpecError
        raise SpecError.from_error(exc, where, lines.at((*spath, "type"))) from None
    _check_position(name, stype, index, cls.first_stage, lines.at(spath), where)
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


def expand_systems(systems: Mapping[str, Any], where: Path, lines: SpecLines) -> list[SystemVariant]:
    """The variants of every system of the spec, in spec order."""
    variants: list[SystemVariant] = []
    for name, raw in systems.items():
        variants.extend(expand_system(name, raw, where, lines, MAX_VARIANTS - len(variants)))
    return variants


def expand_system(
    name: str, raw: Any, where: Path, lines: SpecLines, budget: int = MAX_VARIANTS
) -> list[SystemVariant]:
    """The variants of one system of the spec (one unless a parameter sweeps); at most `budget`."""
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
        _raw_stage(name, s, ("systems", name, i) if isinstance(raw, list) else ("systems", name), i, where, lines)
        for i, s in enumerate(stages_raw)
    ]
    axes = [(i, key, values) for i, st in enumerate(stages) for key, values in st.sweeps]
    count = math.prod(len(values) for _, _, values in axes)
    if count > budget:
        raise SpecError(
            f"system '{name}' sweeps into {count:,} variants ("
            + " x ".join(f"{len(values)} {key}" for _, key, values in axes)
            + f"), which takes the spec past the {MAX_VARIANTS:,} variants it may have",
            path=where,
            line=lines.at(("systems", name)),
            hint="sweep fewer values, or split the sweep over several specs",
        )
    variants: list[SystemVariant] = []
    for combo in itertools.product(*[values for _, _, values in axes]):
        chosen = {(axes[j][0], axes[j][1]): v for j, v in enumerate(combo)}
        configs = tuple(_validate(name, i, st, chosen, where, lines) for i, st in enumerate(stages))
        sweep = tuple((axes[j][1], v) for j, v in enumerate(combo))
        vname = name + ("@" + ",".join(f"{k}={_fmt(v)}" for k, v in sweep) if sweep else "")
        variants.append(SystemVariant(vname, name, configs, sweep))
    _refuse_equal_variants(name, variants, where, lines)
    return variants


def _refuse_equal_variants(name: str, variants: Sequence[SystemVariant], where: Path, lines: SpecLines) -> None:
    """A sweep value given twice (or as 1 and 1.0) would run one system twice under two names,
    or under one name that then means either."""
    seen: dict[str, str] = {}
    for v in variants:
        key = json.dumps(v.config(), sort_keys=True)
        if key in seen:
            raise SpecError(
                f"system '{name}': sweep variants '{seen[key]}' and '{v.name}' are the same system",
                path=where,
                line=lines.at(("systems", name)),
                hint="list each sweep value once (1 and 1.0 are the same number)",
            )
        seen[key] = v.name


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
