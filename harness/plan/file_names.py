"""The names a spec gives that become file and folder names, checked when it loads.

Datasets and system variants name the files of the output folder (`runs/<dataset>/<system>.trec.gz`,
`cells/<dataset>/<system>.json`, report plots `<dataset>-tradeoff.svg`), and the spec's `name`
names the default output folder. Two names that would share a file (also on a case-insensitive
file system), or a name longer than the output folder's file system allows, are refused here
with the line that gave it, instead of overwriting a run or failing with OSError after the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import SpecError
from harness.names import (
    DATASET_FILE_SUFFIX,
    SYSTEM_FILE_SUFFIX,
    name_max,
    refuse_long_file_name,
    refuse_slug_collisions,
    slug_collisions,
)

if TYPE_CHECKING:
    from harness.plan.spec_model import ExperimentSpec
    from harness.plan.variants import SystemVariant
    from harness.plan.yaml_source import SpecLines


def check_file_names(
    spec: ExperimentSpec, variants: Sequence[SystemVariant], where: Path, lines: SpecLines, output: Path | None
) -> None:
    """Every name that becomes a file name is unique and fits the file system of `output` (the
    output folder given on the command line; else the spec's `output:`, else the current folder)."""
    _refuse_same_dataset_names(spec, where, lines)
    _refuse_shared_files(spec, variants, where, lines)
    limit = name_max(output if output is not None else Path(spec.output or "."))
    if output is None and spec.output is None:  # the default output folder is reports/<name>
        try:
            refuse_long_file_name(spec.name, "the spec's name, which names its output folder,", "", limit, folder=True)
        except SpecError as exc:
            raise exc.locate(where, lines.at(("name",))) from None
    for i, ds in enumerate(spec.datasets):
        try:
            refuse_long_file_name(ds.display_name(), "dataset", DATASET_FILE_SUFFIX, limit)
        except SpecError as exc:
            raise exc.locate(where, lines.at(("datasets", i))) from None
    for v in variants:
        try:
            refuse_long_file_name(v.name, "system" if v.name == v.base else "sweep variant", SYSTEM_FILE_SUFFIX, limit)
        except SpecError as exc:
            if v.sweep:
                exc.hint = f"{exc.hint}: a variant's name is the system's name and its swept values"
            raise exc.locate(where, lines.at(("systems", v.base))) from None


def _refuse_same_dataset_names(spec: ExperimentSpec, where: Path, lines: SpecLines) -> None:
    names: set[str] = set()
    for i, ds in enumerate(spec.datasets):
        n = ds.display_name()
        if n in names:
            raise SpecError(
                f"two datasets are named '{n}'",
                path=where,
                line=lines.at(("datasets", i)),
                hint="give one a distinct 'name'",
            )
        names.add(n)


def _refuse_shared_files(
    spec: ExperimentSpec, variants: Sequence[SystemVariant], where: Path, lines: SpecLines
) -> None:
    """Distinct names that share a run file would overwrite (or resume from) each other's runs;
    the error points at the second of the two."""
    datasets = {d.display_name(): ("datasets", i) for i, d in enumerate(spec.datasets)}
    systems = {v.name: ("systems", v.base) for v in variants}
    for what, entries in (("datasets", datasets), ("systems", systems)):
        pairs = slug_collisions(entries)
        if pairs:
            try:
                refuse_slug_collisions(pairs[0], what)
            except SpecError as exc:
                raise exc.locate(where, lines.at(entries[pairs[0][1]])) from None
