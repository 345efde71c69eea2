"""The cell store of an output folder: one record per finished dataset x system cell.

A cell's run key hashes everything its run depends on (dataset content, the variant's
configuration, the content of files and models its parameters name, the keys of the systems
it reads, the harness version). A record whose key matches, whose timing was made under the
same `latency:` settings and whose run file is intact is reused; anything else recomputes.
Records are written atomically after the run file, so an interrupted run leaves no half cell.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness import __version__
from harness.data.dataset import Dataset
from harness.fsutil import Destination, atomic_write_text, sha256_file
from harness.names import slug
from harness.plan.variants import SystemVariant
from harness.sections import LatencyConfig
from harness.systems import STAGES, StageContext
from harness.timing import Timing


@dataclass(frozen=True)
class CellFiles:
    """Where one cell's run file and record live, relative to the output folder."""

    run: Path
    record: Path

    @classmethod
    def of(cls, dataset: str, system: str) -> CellFiles:
        return cls(
            run=Path("runs") / slug(dataset) / f"{slug(system)}.trec.gz",
            record=Path("cells") / slug(dataset) / f"{slug(system)}.json",
        )


def run_key(dataset: Dataset, variant: SystemVariant, ctx: StageContext, dep_keys: Sequence[str]) -> str:
    """The content key of a cell's run. Stages fingerprint their inputs from their parameters
    (a classmethod): keying a cell builds no stage and loads no model."""
    inputs = [STAGES.get(c.type).input_fingerprint(c.params, ctx) for c in variant.stages]
    blob = json.dumps(
        {
            "dataset": dataset.fingerprint,
            "system": variant.config(),
            "inputs": inputs,
            "depends": list(dep_keys),
            "harness": __version__,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class CellRecord:
    """A finished cell as kept in `cells/`: its run file, the run's key and what it cost."""

    run_key: str
    run_file: str
    run_sha256: str
    timing: Timing
    environment: dict[str, Any]
    """The machine fingerprint `timing.environment_id` names."""

    def to_json(self) -> str:
        rec = {
            "run_key": self.run_key,
            "run_file": self.run_file,
            "run_sha256": self.run_sha256,
            "timing": self.timing.to_dict(),
            "environment": self.environment,
        }
        return json.dumps(rec, indent=1) + "\n"


def read_cell(out: Path, files: CellFiles, key: str, latency: LatencyConfig) -> CellRecord | None:
    """The finished record of a cell, if it is still valid for `key` and `latency`."""
    record_path = out / files.record
    if not record_path.is_file():
        return None
    try:
        rec = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(rec, dict) or rec.get("run_key") != key:
        return None
    # The run does not depend on how it was timed, but the stored timings do: a changed
    # latency: section re-times the cell (expensive artefacts still come from the cache).
    try:
        timing = Timing.from_dict(rec.get("timing") or {})
    except ValidationError:  # written by another version, or damaged: recompute
        return None
    environment = rec.get("environment")
    if timing.config != latency or not isinstance(environment, dict):
        return None
    run_path = out / str(rec.get("run_file", ""))
    if not run_path.is_file() or sha256_file(run_path) != rec.get("run_sha256"):
        return None
    return CellRecord(key, str(rec["run_file"]), str(rec["run_sha256"]), timing, environment)


def write_cell(
    out: Path, files: CellFiles, key: str, timing: Timing, environment: dict[str, Any], dest: Destination
) -> CellRecord:
    """Record a finished cell whose run file is written; returns the record."""
    rec = CellRecord(key, files.run.as_posix(), sha256_file(out / files.run), timing, environment)
    atomic_write_text(out / files.record, rec.to_json(), dest)
    return rec
