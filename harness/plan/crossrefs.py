"""Names that point elsewhere in the spec, checked when it loads, before any work.

A system is named by a variant name (`bm25@k1=0.9`) or by a base name that has exactly one
variant (`bm25`); `resolve_variant` is the one place that decides which. Settings that name a
system (compare.baseline, report.baseline, gate.latency.reference, gate.exact) or a measure
(report.measure, compare.measures) are resolved here and stored with the canonical names the
results use, so a misspelt reference fails at its line instead of after hours of runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from harness.errors import HarnessError, SpecError
from harness.evaluation.measures import Measure, parse_measure
from harness.names import resolve_variant_name
from harness.sections import Settings

if TYPE_CHECKING:
    from harness.plan.variants import SystemVariant
    from harness.plan.yaml_source import PathKey, SpecLines

_M = TypeVar("_M", bound=BaseModel)


def resolve_variant(name: str, variants: Sequence[SystemVariant], referrer: str) -> SystemVariant:
    """The variant `name` means. `referrer` starts the error message ("compare.baseline names")."""
    by_name = {v.name: v for v in variants}
    bases = {v.name: v.base for v in variants}
    return by_name[resolve_variant_name(name, bases, referrer, "the spec does not define", SpecError)]


def _changed(model: _M, **changes: object) -> _M:
    """`model` with the changes that alter a value; untouched keys stay unset (the gate's
    command line merges only the keys a spec sets)."""
    update = {k: v for k, v in changes.items() if getattr(model, k) != v}
    return model.model_copy(update=update) if update else model


def _system(name: str | None, key: str, variants: Sequence[SystemVariant], where: Path, lines: SpecLines) -> str | None:
    if name is None:
        return None
    try:
        return resolve_variant(name, variants, f"{key} names").name
    except SpecError as exc:
        raise exc.locate(where, lines.at(tuple(key.split(".")))) from None


def measure_name(name: str, key: str, path: PathKey, measures: Sequence[Measure], where: Path, lines: SpecLines) -> str:
    names = [m.name for m in measures]
    try:
        canonical = parse_measure(name).name
    except HarnessError as exc:
        raise SpecError.from_error(exc, where, lines.at(path)) from None
    if canonical not in names:
        raise SpecError(
            f"{key} names measure '{name}', which the spec's measures do not include",
            path=where,
            line=lines.at(path),
            hint=f"add it to measures: or use one of {', '.join(names)}",
        )
    return canonical


def resolve_settings(
    settings: Settings, variants: Sequence[SystemVariant], measures: Sequence[Measure], where: Path, lines: SpecLines
) -> Settings:
    """`settings` with every system and measure it names checked and written canonically."""
    compare, report, gate = settings.compare, settings.report, settings.gate
    exact: list[str] = []
    for i, name in enumerate(gate.exact):
        try:
            exact.append(resolve_variant(name, variants, "gate.exact names").name)
        except SpecError as exc:
            raise exc.locate(where, lines.at(("gate", "exact", i))) from None
    compare = _changed(
        compare,
        baseline=_system(compare.baseline, "compare.baseline", variants, where, lines),
        measures=None
        if compare.measures is None
        else [
            measure_name(m, "compare.measures", ("compare", "measures", i), measures, where, lines)
            for i, m in enumerate(compare.measures)
        ],
    )
    report = _changed(
        report,
        baseline=_system(report.baseline, "report.baseline", variants, where, lines),
        measure=None
        if report.measure is None
        else measure_name(report.measure, "report.measure", ("report", "measure"), measures, where, lines),
    )
    latency = _changed(
        gate.latency, reference=_system(gate.latency.reference, "gate.latency.reference", variants, where, lines)
    )
    gate = _changed(gate, exact=exact, latency=latency)
    return _changed(settings, compare=compare, report=report, gate=gate)
