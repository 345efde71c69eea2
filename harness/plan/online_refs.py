"""The `online:` section's references, checked when the spec loads: the systems its pairs and
baseline name, the offline measure, and the fitted click-model files (`from:`), which must exist
and be fitted models. Names are stored canonically, as the results use them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError, SpecError
from harness.evaluation.measures import Measure
from harness.plan.crossrefs import measure_name, resolve_variant
from harness.sections import OnlineConfig, Settings

if TYPE_CHECKING:
    from harness.plan.variants import SystemVariant
    from harness.plan.yaml_source import SpecLines


def _system(
    name: str, key: tuple[str | int, ...], variants: Sequence[SystemVariant], where: Path, lines: SpecLines
) -> str:
    try:
        return resolve_variant(name, variants, f"{'.'.join(map(str, key))} names").name
    except SpecError as exc:
        raise exc.locate(where, lines.at(key)) from None


def _check_fitted(config: OnlineConfig, where: Path, lines: SpecLines) -> None:
    from harness.online.fitted import read_fitted

    for i, model in enumerate(config.click_models):
        if model.from_ is None:
            continue
        line = lines.at(("online", "click_models", i, "from"))
        try:
            fitted = read_fitted(where.parent / model.from_)
        except HarnessError as exc:
            raise SpecError(
                f"online.click_models[{i}].from: {exc.path}: {exc.message}",
                path=where,
                line=line,
                hint="; ".join(h for h in (exc.hint, "a relative path is relative to the spec") if h),
            ) from None
        if model.type is not None and model.type != fitted.type:
            raise SpecError(
                f"click model '{model.label()}' is type {model.type}; {model.from_} is a fitted {fitted.type} model",
                path=where,
                line=line,
                hint="leave `type` out to use the fitted model's",
            )


def resolve_online(
    settings: Settings, variants: Sequence[SystemVariant], measures: Sequence[Measure], where: Path, lines: SpecLines
) -> Settings:
    """`settings` with the online section's names canonical; SpecError at the line of a bad one."""
    online = settings.online
    if online is None:
        return settings
    baseline = (
        None if online.baseline is None else _system(online.baseline, ("online", "baseline"), variants, where, lines)
    )
    pairs = online.pairs
    if isinstance(pairs, list):
        pairs = [
            [_system(name, ("online", "pairs", i, j), variants, where, lines) for j, name in enumerate(pair)]
            for i, pair in enumerate(pairs)
        ]
    elif len(variants) < 2:
        raise SpecError("online: needs at least two systems to compare", path=where, line=lines.at(("online",)))
    measure = measure_name(online.measure, "online.measure", ("online", "measure"), measures, where, lines)
    _check_fitted(online, where, lines)
    update = {"baseline": baseline, "pairs": pairs, "measure": measure}
    return settings.model_copy(update={"online": online.model_copy(update=update)})
