"""results.json: the schema-versioned record every report, comparison and gate reads.

Typed records throughout (pydantic, frozen, unknown keys refused): a results file that was
edited by hand or truncated is refused on load with the key path that is wrong, instead of
failing somewhere later. The settings the experiment ran with are stored typed (`settings`),
so readers never go back to the raw spec; the raw spec stays in `manifest.spec` for provenance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from harness.errors import DataError, SystemConfigError
from harness.fsutil import ANYWHERE, Destination, atomic_write_text
from harness.names import resolve_variant_name
from harness.online.online_records import OnlineDataset
from harness.sections import Settings
from harness.timing import Record, Timing

SCHEMA_VERSION = 3
READS = (2, 3)
"""Schemas this harness reads: 3 keeps per-query values and latency samples in a Parquet table
beside results.json (harness.result_tables); 2 held them inline and is read as it is."""
RESULTS_FILE = "results.json"
_HISTORY = {
    1: "schema 1 (harness 0.x before typed timing: untyped timing blocks, environment per cell)",
}


class Cell(Record):
    """One dataset x system: its run file, measures (aggregate and per query) and costs."""

    dataset: str
    system: str
    run_file: str
    run_sha256: str
    judged: int
    answered: int
    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]]
    timing: Timing | None = None
    resumed: bool = False
    """True when the cell was not recomputed: a previous run of the same inputs was reused."""

    @model_validator(mode="after")
    def _aggregates_are_their_per_query_values(self) -> Cell:
        """Each aggregate is the mean (or, for the count measures, the sum) of its per-query
        values, as `evaluate` computed it: a hand-edited aggregate is refused, not reported."""
        for measure, value in self.aggregate.items():
            values = self.per_query.get(measure)
            if not values:
                continue
            total = math.fsum(values.values())
            tolerance = 1e-9 * max(1.0, abs(value))
            if abs(total / len(values) - value) > tolerance and abs(total - value) > tolerance:
                raise ValueError(
                    f"aggregate {measure} {value} is not the mean ({total / len(values)}) of its per-query values"
                )
        return self


class SystemInfo(Record):
    base: str
    """The spec's system name this variant was expanded from."""
    config: list[dict[str, Any]]
    sweep: dict[str, Any] = Field(default_factory=dict)


class Manifest(Record):
    """Provenance: where the experiment came from and what ran it."""

    spec_path: str = ""
    spec: dict[str, Any] = Field(default_factory=dict)
    """The spec as loaded (after ${VAR} interpolation): provenance only, never re-parsed."""
    spec_hash: str = ""
    harness_version: str = ""
    packages: dict[str, str] = Field(default_factory=dict)
    git_commit: str | None = None
    data_root: str = ""
    created: str = ""
    executor: dict[str, Any] = Field(default_factory=dict)
    """Where the indexing and encoding ran (`executor: ray`: the cluster, its CPUs and nodes, the
    tasks and their wall time); the cells were run and timed in this process either way."""


class ResultSet(Record):
    schema_version: Literal[2, 3] = 3  # SCHEMA_VERSION
    experiment: str
    manifest: Manifest = Field(default_factory=Manifest)
    settings: Settings = Field(default_factory=Settings)
    measures: list[str]
    datasets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per dataset: counts, fingerprint and query subset (harness.data.Dataset.summary)."""
    systems: dict[str, SystemInfo] = Field(default_factory=dict)
    cells: list[Cell] = Field(default_factory=list)
    environment: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Machine and software fingerprints by id (harness.environment); cells name theirs."""
    comparisons: dict[str, Any] = Field(default_factory=dict)
    """Statistical comparisons against a baseline system (harness.compare)."""
    online: dict[str, OnlineDataset] = Field(default_factory=dict)
    """Simulated interleaving and A/B tests per dataset (the spec's `online:`, harness.online)."""
    tables: dict[str, str] = Field(default_factory=dict)
    """Files beside results.json holding part of the set, by name, with their sha256
    (schema 3: `per_query.parquet`, harness.result_tables)."""

    def cell(self, dataset: str, system: str) -> Cell | None:
        for c in self.cells:
            if c.dataset == dataset and c.system == system:
                return c
        return None

    def system_names(self) -> list[str]:
        """Systems in spec order (the order of `systems`, else of the cells)."""
        return list(self.systems) or list(dict.fromkeys(c.system for c in self.cells))

    def variant(self, name: str) -> str | None:
        """The system `name` denotes (see `resolve_system`), or None."""
        try:
            return self.resolve_system(name)
        except SystemConfigError:
            return None

    def resolve_system(self, name: str, referrer: str = "the results name") -> str:
        """The system `name` denotes: a variant name, or a base name with exactly one variant
        (harness.names.resolve_variant_name, the rule the spec was checked with)."""
        bases = {n: (self.systems[n].base if n in self.systems else n) for n in self.system_names()}
        return resolve_variant_name(name, bases, referrer, "these results do not hold", SystemConfigError)

    def baseline_system(self, wanted: str | None = None) -> str | None:
        """THE baseline system, for comparisons, markers and win/loss alike: `wanted` if given,
        else the spec's compare.baseline, else the first system."""
        names = self.system_names()
        if not names:
            return None
        chosen = wanted if wanted is not None else self.settings.compare.baseline
        return names[0] if chosen is None else self.resolve_system(chosen, "the baseline names")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def save(self, folder: Path, dest: Destination = ANYWHERE) -> Path:
        """results.json and, first, the per-query table it names (so that it never names a
        table that is not completely written)."""
        from harness.result_tables import TABLE_FILE, split, write_table

        lean, rows = split({**self.to_dict(), "schema_version": SCHEMA_VERSION})
        lean["tables"] = {TABLE_FILE: write_table(folder, rows, dest)}
        path = folder / RESULTS_FILE
        atomic_write_text(path, json.dumps(lean, indent=1) + "\n", dest)
        return path

    @classmethod
    def load(cls, path: Path) -> ResultSet:
        """Load a results.json (or the folder holding one); refuse anything malformed."""
        if path.is_dir():
            path = path / RESULTS_FILE
        if not path.is_file():
            raise DataError("results file not found", path=path, hint="run `harness run SPEC` first")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"results file is not valid JSON ({exc})", path=path) from None
        if isinstance(d, dict) and d.get("schema_version") == SCHEMA_VERSION:
            from harness.result_tables import merge

            d = merge(d, path.parent)
        return cls.from_dict(d, path)

    @classmethod
    def from_dict(cls, d: Any, path: Path | None = None) -> ResultSet:
        version = d.get("schema_version") if isinstance(d, Mapping) else None
        if version not in READS:
            written = _HISTORY.get(version, f"schema {version!r}") if isinstance(version, int) else "no schema"
            raise DataError(
                f"results file has {written}; this harness reads schemas {READS[0]} and {READS[1]}",
                path=path,
                hint="re-run the experiment with this harness (`harness run SPEC`; run files are kept) "
                "or read it with the harness version that wrote it",
            )
        try:
            return cls.model_validate(d)
        except ValidationError as exc:
            raise DataError(f"results file is malformed: {_first_error(exc)}", path=path, hint=_FIX) from None


_FIX = "re-run `harness run SPEC` to write it again; do not edit results.json by hand"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"'{where}': {err['msg']}"
