"""An experiment spec, parsed once into a typed, validated `Plan`.

`load_plan` reads the YAML once (with the line of every key), validates every section at
every depth, expands sweeps, parses the measures, checks every cross-reference and orders the
systems; every problem is a SpecError with file:line before any work starts. Everything
downstream (runner, comparisons, report, gate) receives the plan or its typed `settings` and
never reads the spec's mappings again.

Modules: `yaml_source` (single-pass YAML with lines, `${VAR}`), `spec_model` (the top-level
pydantic model, error messages), `variants` (StageConfig, SystemVariant, sweeps), `order`
(dependencies between systems, run order), `crossrefs` (names that point at systems or
measures).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from harness.data.ref import DatasetRef
from harness.errors import HarnessError, SpecError
from harness.evaluation.measures import Measure, parse_measure
from harness.plan.crossrefs import resolve_settings, resolve_variant
from harness.plan.file_names import check_file_names
from harness.plan.inputs import check_inputs, check_training_data
from harness.plan.online_refs import resolve_online
from harness.plan.order import dependencies, order_systems
from harness.plan.spec_model import ExperimentSpec
from harness.plan.variants import StageConfig, SystemVariant, expand_systems
from harness.plan.yaml_source import SpecLines, read_yaml
from harness.sections import Settings
from harness.validation import format_pydantic

__all__ = [
    "Plan",
    "SpecLines",
    "StageConfig",
    "SystemVariant",
    "dependencies",
    "load_plan",
    "load_section",
    "order_systems",
    "resolve_variant",
]

_S = TypeVar("_S", bound=BaseModel)


@dataclass(frozen=True)
class Plan:
    """A validated experiment: what to run, in which order, and how to time, compare, report
    and gate it."""

    name: str
    path: Path
    base_dir: Path
    datasets: tuple[DatasetRef, ...]
    """Local paths made absolute (relative ones are relative to the spec's folder)."""
    measures: tuple[Measure, ...]
    """Parsed measures, duplicates removed, in spec order; `measure_names` are their names."""
    systems: tuple[SystemVariant, ...]
    """Every variant, in spec order."""
    ordered: tuple[SystemVariant, ...]
    """The same variants in run order (a system after the systems it reads)."""
    settings: Settings
    output: str | None
    spec_hash: str
    raw: Mapping[str, Any]
    """The interpolated spec, for provenance (results.json's manifest) only."""
    lines: SpecLines
    """Lines of the spec's keys, for errors raised while running."""
    description: str = ""

    @property
    def measure_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.measures)

    def variant(self, name: str) -> SystemVariant:
        """The variant a system name means (a variant name, or a base with one variant)."""
        return resolve_variant(name, self.systems, "the spec names")

    def dataset_line(self, index: int) -> int | None:
        return self.lines.at(("datasets", index))

    def system_line(self, base: str) -> int | None:
        return self.lines.at(("systems", base))


def _absolute(ref: DatasetRef, base: Path) -> DatasetRef:
    update: dict[str, str] = {}
    for key in ("path", "corpus", "topics", "qrels"):
        value = getattr(ref, key)
        if value and not Path(value).expanduser().is_absolute():
            update[key] = str(base / Path(value).expanduser())
    return ref.model_copy(update=update) if update else ref


def _measures(names: Sequence[str], where: Path, lines: SpecLines) -> tuple[Measure, ...]:
    out: dict[str, Measure] = {}
    for i, text in enumerate(names):
        try:
            m = parse_measure(text)
        except HarnessError as exc:
            raise SpecError.from_error(exc, where, lines.at(("measures", i))) from None
        out.setdefault(m.name, m)
    return tuple(out.values())


def _validate(data: Any, where: Path, lines: SpecLines) -> ExperimentSpec:
    if not isinstance(data, dict):
        raise SpecError("a spec must be a YAML mapping (name, datasets, systems, ...)", path=where, line=1)
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        msg, loc = format_pydantic(exc, ExperimentSpec)
        raise SpecError(msg, path=where, line=lines.at(loc)) from None


def spec_hash(raw: Mapping[str, Any]) -> str:
    blob = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def load_plan(path: str | Path, env: Mapping[str, str] | None = None, *, output: Path | None = None) -> Plan:
    """Load and check a spec file; every problem is a SpecError with file and line.

    `env` holds the variables `${VAR}` may name (default: the process environment). `output`
    is the output folder the command line gives, if any: file names must fit its file system."""
    where = Path(path)
    doc = read_yaml(where, dict(os.environ) if env is None else env)
    lines = doc.lines
    spec = _validate(doc.data, where, lines)
    measures = _measures(spec.measures, where, lines)
    variants = expand_systems(spec.systems, where, lines)
    check_file_names(spec, variants, where, lines, output)
    check_inputs(variants, spec.datasets, where, lines)
    check_training_data(variants, spec.datasets, where, lines)
    ordered = order_systems(variants, lambda base: (str(where), lines.at(("systems", base))))
    settings = resolve_settings(spec.settings(), variants, measures, where, lines)
    settings = resolve_online(settings, variants, measures, where, lines)
    return Plan(
        name=spec.name,
        path=where,
        base_dir=where.parent,
        datasets=tuple(_absolute(ref, where.parent) for ref in spec.datasets),
        measures=measures,
        systems=tuple(variants),
        ordered=tuple(ordered),
        settings=settings,
        output=spec.output,
        spec_hash=spec_hash(doc.data),
        raw=doc.data,
        lines=lines,
        description=spec.description,
    )


def load_section(path: str | Path, key: str, model: type[_S], env: Mapping[str, str] | None = None) -> _S:
    """One settings section of a YAML file (a spec, or a file holding only that section), e.g.
    the rules `harness gate --spec FILE` reads; errors name the file and line like load_plan's.
    Keys the file does not set stay unset in the result (`model_dump(exclude_unset=True)`)."""
    where = Path(path)
    doc = read_yaml(where, dict(os.environ) if env is None else env)
    data = doc.data.get(key, {}) if isinstance(doc.data, dict) else None
    if not isinstance(data, dict):
        raise SpecError(f"the '{key}:' section must be a mapping", path=where, line=doc.lines.at((key,)))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        msg, loc = format_pydantic(exc, model)
        raise SpecError(f"{key}: {msg}", path=where, line=doc.lines.at((key, *loc))) from None
