"""Files the systems read, checked when the spec loads.

A replayed run file (`type: run`, with `{dataset}` in its path) that is missing for one of the
datasets would otherwise be found only when its cell comes up, after other cells have run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.data.ref import DatasetRef
from harness.errors import SpecError
from harness.plan.variants import SystemVariant
from harness.plan.yaml_source import SpecLines
from harness.systems import STAGES


def check_inputs(
    variants: Sequence[SystemVariant], datasets: Sequence[DatasetRef], where: Path, lines: SpecLines
) -> None:
    """Every file a stage would read exists for every dataset, or a SpecError at the stage."""
    seen: set[tuple[str, int]] = set()
    for v in variants:
        for i, cfg in enumerate(v.stages):
            if (v.base, i) in seen:  # sweep variants of one stage name the same files
                continue
            seen.add((v.base, i))
            for ref in datasets:
                missing = STAGES.get(cfg.type).missing_inputs(cfg.params, where.parent, ref.display_name())
                if missing:
                    line = lines.at(("systems", v.base, i)) if len(v.stages) > 1 else lines.at(("systems", v.base))
                    raise SpecError(
                        f"system '{v.base}' ({cfg.type}) reads {missing[0]} on dataset '{ref.display_name()}', "
                        "which does not exist",
                        path=where,
                        line=line,
                        hint="check the path and the data root (a relative path is relative to the spec; "
                        "{dataset} becomes each dataset's name: give the dataset a name: to match the file)",
                    )


def _same_dataset(a: DatasetRef, b: DatasetRef, base: Path) -> bool:
    """Two references to one dataset (its display name aside; paths relative to the spec)."""

    def key(ref: DatasetRef) -> tuple[object, ...]:
        path = str((base / ref.path).resolve()) if ref.path else None
        return (ref.id, path, ref.split, ref.corpus, ref.topics, ref.qrels)

    return key(a) == key(b)


def check_training_data(
    variants: Sequence[SystemVariant], datasets: Sequence[DatasetRef], where: Path, lines: SpecLines
) -> None:
    """A model trained from the spec never trains on a dataset the spec evaluates (the overlap
    of queries within one collection is checked again when the training data is loaded)."""
    from harness.systems._trained_model import ModelRecipe

    for v in variants:
        for cfg in v.stages:
            recipe = getattr(cfg.params, "model", None)
            if not isinstance(recipe, ModelRecipe):
                continue
            for ref in datasets:
                if _same_dataset(recipe.train.data, ref, where.parent):
                    raise SpecError(
                        f"system '{v.base}' trains on '{ref.display_name()}', the dataset it is evaluated on",
                        path=where,
                        line=lines.at(("systems", v.base)),
                        hint="train on a split the spec does not evaluate",
                    )
