"""results.json: the schema-versioned record every report and gate reads, and nothing else."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.fsutil import atomic_write_text

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class Cell:
    """One dataset x system: its run file, measures (aggregate and per query) and costs."""

    dataset: str
    system: str
    run_file: str
    run_sha256: str
    judged: int
    answered: int
    aggregate: Mapping[str, float]
    per_query: Mapping[str, Mapping[str, float]]
    timing: Mapping[str, Any] = field(default_factory=dict)
    cached: bool = False


@dataclass(frozen=True)
class ResultSet:
    experiment: str
    manifest: Mapping[str, Any]
    measures: list[str]
    datasets: Mapping[str, Mapping[str, Any]]
    systems: Mapping[str, Mapping[str, Any]]
    cells: list[Cell]
    comparisons: Mapping[str, Any] = field(default_factory=dict)
    """Statistical comparisons against a baseline system (filled by harness.evaluation.stats)."""
    schema_version: int = SCHEMA_VERSION

    def cell(self, dataset: str, system: str) -> Cell | None:
        for c in self.cells:
            if c.dataset == dataset and c.system == system:
                return c
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cells"] = [asdict(c) for c in self.cells]
        return {"schema_version": d.pop("schema_version"), **d}

    def save(self, folder: Path) -> Path:
        path = folder / RESULTS_FILE
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> ResultSet:
        """Load a results.json (or the folder holding one)."""
        if path.is_dir():
            path = path / RESULTS_FILE
        if not path.is_file():
            raise DataError("results file not found", path=path, hint="run `harness run SPEC` first")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"results file is not valid JSON ({exc})", path=path) from None
        if not isinstance(d, dict) or d.get("schema_version") != SCHEMA_VERSION:
            raise DataError(
                f"unsupported results schema {d.get('schema_version') if isinstance(d, dict) else None!r}",
                path=path,
                hint=f"this harness reads schema {SCHEMA_VERSION}; re-run the experiment",
            )
        try:
            cells = [Cell(**c) for c in d["cells"]]
            return cls(
                experiment=d["experiment"],
                manifest=d["manifest"],
                measures=list(d["measures"]),
                datasets=d["datasets"],
                systems=d["systems"],
                cells=cells,
                comparisons=d.get("comparisons", {}),
            )
        except (KeyError, TypeError) as exc:
            raise DataError(f"results file lacks or mangles a field ({exc})", path=path) from None
