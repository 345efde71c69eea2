"""Experiment specs: strict YAML with file:line errors, env interpolation, sweep expansion."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.data.ref import DatasetRef

if TYPE_CHECKING:
    from harness.systems import StageParams
from harness.errors import HarnessError, SpecError
from harness.evaluation.measures import parse_measure
from harness.plugins import did_you_mean

PathKey = tuple[str | int, ...]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Lines:
    """Line numbers (1-based) of every key and list item in a YAML document."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[PathKey, int] = {}
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: PathKey) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
                child = (*path, k)
                self.lines[child] = key.start_mark.line + 1
                self._walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def at(self, path: Sequence[str | int]) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get(())


def _interpolate(value: Any, path: PathKey, env: Mapping[str, str], where: Path, lines: _Lines) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise SpecError(
                f"environment variable '{name}' is not set",
                path=where,
                line=lines.at(path),
                hint=f"export {name}=... or write ${{{name}:-default}}",
            )

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), env, where, lines) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), env, where, lines) for i, v in enumerate(value)]
    return value


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, unions, lists, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _models_in(a)]


def _model_at(model: type[BaseModel] | None, loc: tuple[str | int, ...]) -> type[BaseModel] | None:
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


def _format_pydantic(exc: ValidationError, model: type[BaseModel] | None) -> tuple[str, tuple[str | int, ...]]:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    field = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        names = list(owner.model_fields) if owner is not None else []
        hint = did_you_mean(str(loc[-1]), names).rstrip() + " " if names else ""
        msg = f"unknown key '{loc[-1]}'" + (f"; {hint}valid keys: {', '.join(names)}" if names else "")
    elif err["type"] == "missing":
        msg = f"missing required key '{field}'"
    else:
        msg = f"'{field}': {err['msg']} (got {err.get('input')!r})"
    return msg, loc


class ExperimentSpec(BaseModel):
    """The top level of a spec file. Systems are validated by their own parameter models."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    datasets: list[DatasetRef] = Field(min_length=1)
    measures: list[str] = Field(default_factory=lambda: ["nDCG@10", "RR@10", "R@100", "AP"], min_length=1)
    systems: dict[str, Any] = Field(min_length=1)
    output: str | None = None
    report: dict[str, Any] = Field(default_factory=dict)
    latency: dict[str, Any] = Field(default_factory=dict)
    compare: dict[str, Any] = Field(default_factory=dict)
    gate: dict[str, Any] = Field(default_factory=dict)

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
class Experiment:
    """A loaded spec: validated top level, expanded system variants, and where it came from."""

    spec: ExperimentSpec
    systems: tuple[SystemVariant, ...]
    path: Path
    raw: Mapping[str, Any]
    lines: Mapping[str, int | None] = dataclasses.field(default_factory=dict)
    """Spec lines of `datasets/<i>` and `systems/<name>`, for errors raised while running."""

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def spec_hash(self) -> str:
        blob = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def _is_list_type(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, tuple, Sequence, set, frozenset):
        return True
    return any(_is_list_type(a) for a in get_args(annotation)) if origin is not None else False


def _fmt(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


def _expand_system(name: str, raw: Any, where: Path, lines: _Lines) -> list[SystemVariant]:
    from harness.systems import STAGES

    stages_raw = raw if isinstance(raw, list) else [raw]
    if not stages_raw:
        raise SpecError(f"system '{name}' has no stages", path=where, line=lines.at(("systems", name)))
    per_stage: list[tuple[str, type[StageParams], dict[str, Any], list[tuple[str, list[Any]]]]] = []
    for i, stage in enumerate(stages_raw):
        spath: PathKey = ("systems", name, i) if isinstance(raw, list) else ("systems", name)
        if not isinstance(stage, dict):
            raise SpecError(
                f"system '{name}': a stage must be a mapping with a 'type'",
                path=where,
                line=lines.at(spath),
            )
        if "type" not in stage:
            raise SpecError(
                f"system '{name}': stage has no 'type'",
                path=where,
                line=lines.at(spath),
                hint=f"valid types: {', '.join(STAGES.names())}",
            )
        stype = str(stage["type"])
        cls = STAGES.get(stype, path=str(where), line=lines.at((*spath, "type")))
        model = cls.Params
        params = {k: v for k, v in stage.items() if k != "type"}
        sweeps: list[tuple[str, list[Any]]] = []
        for key, value in params.items():
            field = model.model_fields.get(key)
            if isinstance(value, list) and field is not None and not _is_list_type(field.annotation):
                if not value:
                    raise SpecError(f"sweep '{key}' is empty", path=where, line=lines.at((*spath, key)))
                sweeps.append((key, value))
        per_stage.append((stype, model, params, sweeps))

    axes = [(i, key, values) for i, (_, _, _, sw) in enumerate(per_stage) for key, values in sw]
    variants: list[SystemVariant] = []
    for combo in itertools.product(*[values for _, _, values in axes]) if axes else [()]:
        chosen = {(axes[j][0], axes[j][1]): v for j, v in enumerate(combo)}
        configs: list[StageConfig] = []
        for i, (stype, model, params, _) in enumerate(per_stage):
            spath = ("systems", name, i) if isinstance(raw, list) else ("systems", name)
            concrete = {k: chosen.get((i, k), v) for k, v in params.items()}
            try:
                configs.append(StageConfig(stype, model.model_validate(concrete)))
            except ValidationError as exc:
                msg, loc = _format_pydantic(exc, model)
                raise SpecError(
                    f"system '{name}' ({stype}): {msg}", path=where, line=lines.at((*spath, *loc))
                ) from None
        sweep = tuple((axes[j][1], v) for j, v in enumerate(combo))
        vname = name + ("@" + ",".join(f"{k}={_fmt(v)}" for k, v in sweep) if sweep else "")
        variants.append(SystemVariant(vname, name, tuple(configs), sweep))
    return variants


def _check_sections(spec: ExperimentSpec, where: Path, lines: _Lines) -> None:
    """Validate compare/gate/latency now, so a typo fails before hours of work, not after."""
    from harness.compare import parse_compare_config
    from harness.gate import validate_rules
    from harness.timing import parse_latency

    checks: list[tuple[str, Any]] = [
        ("compare", parse_compare_config),
        ("gate", validate_rules),
        ("latency", parse_latency),
    ]
    for section, parse in checks:
        value = getattr(spec, section)
        if not value:
            continue
        try:
            parse(value)
        except HarnessError as exc:
            raise SpecError(exc.message, path=where, line=lines.at((section,)), hint=exc.hint) from None


def load_spec(path: str | Path, env: Mapping[str, str] | None = None) -> Experiment:
    """Load and validate a spec file; every problem is a SpecError with file and line."""
    where = Path(path)
    if not where.is_file():
        raise SpecError("spec file not found", path=where, hint="give the path of a YAML spec")
    try:
        text = where.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError("spec file is not UTF-8", path=where) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(
            f"malformed YAML: {problem}",
            path=where,
            line=mark.line + 1 if mark is not None else None,
            hint="check indentation and quoting",
        ) from None
    lines = _Lines(node)
    if not isinstance(data, dict):
        raise SpecError("a spec must be a YAML mapping (name, datasets, systems, ...)", path=where, line=1)
    data = _interpolate(data, (), dict(os.environ) if env is None else env, where, lines)
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        msg, loc = _format_pydantic(exc, ExperimentSpec)
        raise SpecError(msg, path=where, line=lines.at(loc)) from None
    for i, m in enumerate(spec.measures):
        try:
            parse_measure(m)
        except HarnessError as exc:
            raise SpecError(exc.message, path=where, line=lines.at(("measures", i)), hint=exc.hint) from None
    _check_sections(spec, where, lines)
    names: dict[str, int] = {}
    for i, ds in enumerate(spec.datasets):
        n = ds.display_name()
        if n in names:
            raise SpecError(
                f"two datasets are named '{n}'",
                path=where,
                line=lines.at(("datasets", i)),
                hint="give one a distinct 'name'",
            )
        names[n] = i
    variants: list[SystemVariant] = []
    for sname, sraw in spec.systems.items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", sname):
            raise SpecError(
                f"system name '{sname}' must use letters, digits, '.', '_', '+' and '-'",
                path=where,
                line=lines.at(("systems", sname)),
            )
        variants.extend(_expand_system(sname, sraw, where, lines))
    from harness.systems._order import order_systems

    order_systems(variants, lambda system: (str(where), lines.at(("systems", system))))
    entry_lines = {f"datasets/{i}": lines.at(("datasets", i)) for i in range(len(spec.datasets))}
    entry_lines.update({f"systems/{v.base}": lines.at(("systems", v.base)) for v in variants})
    return Experiment(spec=spec, systems=tuple(variants), path=where, raw=data, lines=entry_lines)
