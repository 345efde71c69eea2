"""Gate snapshots: what a results.json measured, frozen into one committed JSON file.

Per dataset x system x measure the file holds the aggregate and every per-query value; per
dataset its content fingerprint; per cell the run file's sha256; and, where the run recorded
latency, each system's p50/p95 as a ratio to a reference system measured in the same run
(absolute times on shared machines are noise, ratios within one run are not).

"Snapshot" is the file; "baseline" is only ever a system that others are compared with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import GateError
from harness.fsutil import atomic_write_text
from harness.latency import Clock, default_reference, latency_ratios
from harness.results import Cell, ResultSet
from harness.sections import LatencyScope

SNAPSHOT_FORMAT = "harness-snapshot"
SNAPSHOT_VERSION = 1
LEGACY_FORMAT = "harness-baseline"
"""The same version-1 document under its former name; committed files of that name still load."""
SAVE_HINT = "create it with `harness snapshot save RESULTS_DIR -o FILE`"


def _cell_entry(cell: Cell, measures: list[str], ratios: Mapping[str, Mapping[str, float] | None]) -> dict[str, Any]:
    return {
        "run_file": cell.run_file,
        "run_sha256": cell.run_sha256,
        "judged": cell.judged,
        "measures": {
            m: {"aggregate": float(cell.aggregate[m]), "per_query": {q: float(v) for q, v in cell.per_query[m].items()}}
            for m in measures
            if m in cell.aggregate and m in cell.per_query
        },
        **{key: dict(v) if v is not None else None for key, v in ratios.items()},
    }


_RATIO_KEYS: dict[tuple[Clock, LatencyScope], str] = {
    ("wall", "end-to-end"): "latency",
    ("cpu", "end-to-end"): "cpu_latency",
    ("wall", "search-only"): "search_latency",
    ("cpu", "search-only"): "search_cpu_latency",
}
"""Snapshot key of each clock x scope's ratios (the search-only ones leave query encoding out)."""


def build_snapshot(results: ResultSet, reference: str | None = None) -> dict[str, Any]:
    """The snapshot document for `results` (a plain JSON-able dict)."""
    ref = reference or default_reference(results)
    if ref is not None and results.variant(ref) is None:
        raise GateError(
            f"latency reference system '{ref}' is not in the results",
            hint="pass --reference with one of: " + ", ".join(results.systems),
        )
    ref = results.variant(ref) if ref is not None else None
    datasets: dict[str, Any] = {}
    systems: dict[str, dict[str, Any]] = {}
    for name, summary in results.datasets.items():
        datasets[name] = {
            "fingerprint": summary.get("fingerprint"),
            "queries": summary.get("queries"),
            "subset": summary.get("subset"),
        }
        ratios = {
            key: latency_ratios(results, name, ref, clock, scope) if ref is not None else {}
            for (clock, scope), key in _RATIO_KEYS.items()
        }
        systems[name] = {
            c.system: _cell_entry(c, list(results.measures), {k: r.get(c.system) for k, r in ratios.items()})
            for c in results.cells
            if c.dataset == name
        }
    return {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "experiment": results.experiment,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {
            "git_commit": results.manifest.git_commit,
            "spec_hash": results.manifest.spec_hash,
            "harness_version": results.manifest.harness_version,
        },
        "measures": list(results.measures),
        "reference_system": ref,
        "datasets": datasets,
        "systems": systems,
    }


def save_snapshot(results: ResultSet, path: Path, reference: str | None = None) -> dict[str, Any]:
    doc = build_snapshot(results, reference)
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return doc


@dataclass(frozen=True)
class MeasureValues:
    aggregate: float
    per_query: Mapping[str, float]


@dataclass(frozen=True)
class SnapshotCell:
    """One dataset x system as the snapshot recorded it."""

    run_sha256: str | None
    measures: Mapping[str, MeasureValues]
    latency: Mapping[str, float] | None
    """Wall-clock p50/p95 and their `*_ratio` to the reference system; None if not recorded."""
    cpu_latency: Mapping[str, float] | None
    """The same in CPU time; None in snapshots saved before CPU times were recorded."""
    search_latency: Mapping[str, float] | None = None
    """Wall-clock ratios without query encoding (scope search-only); None in older snapshots."""
    search_cpu_latency: Mapping[str, float] | None = None

    def ratios(self, clock: Clock, scope: LatencyScope = "end-to-end") -> Mapping[str, float] | None:
        value: Mapping[str, float] | None = getattr(self, _RATIO_KEYS[(clock, scope)])
        return value


@dataclass(frozen=True)
class Snapshot:
    """A loaded and checked snapshot file."""

    path: Path
    reference: str | None
    """The system latency ratios are relative to."""
    fingerprints: Mapping[str, str | None]
    """Dataset name -> content fingerprint, in the file's order."""
    systems: Mapping[str, Mapping[str, SnapshotCell]]
    """Dataset name -> system name -> cell."""

    @property
    def measures(self) -> set[str]:
        return {m for cells in self.systems.values() for cell in cells.values() for m in cell.measures}

    @property
    def system_names(self) -> set[str]:
        return {s for cells in self.systems.values() for s in cells}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _latency(value: object) -> dict[str, float] | None:
    """Numbers of a latency block; anything else in it is ignored, as the gate never reads it."""
    if not isinstance(value, Mapping):
        return None
    return {str(k): float(v) for k, v in value.items() if _number(v)}


def _measure(value: object) -> MeasureValues | None:
    if not isinstance(value, Mapping) or not _number(value.get("aggregate")):
        return None
    per_query = value.get("per_query")
    if not isinstance(per_query, Mapping) or not all(_number(v) for v in per_query.values()):
        return None
    return MeasureValues(float(value["aggregate"]), {str(q): float(v) for q, v in per_query.items()})


def _cell(path: Path, where: str, entry: object) -> SnapshotCell:
    raw = entry.get("measures") if isinstance(entry, Mapping) else None
    measures = {str(m): _measure(v) for m, v in raw.items()} if isinstance(raw, Mapping) else None
    if not isinstance(entry, Mapping) or measures is None or None in measures.values():
        raise GateError(
            f"snapshot entry {where} lacks measures with 'aggregate' and 'per_query'",
            path=path,
            hint="re-create it with `harness snapshot save`",
        )
    sha = entry.get("run_sha256")
    return SnapshotCell(
        run_sha256=sha if isinstance(sha, str) else None,
        measures={m: v for m, v in measures.items() if v is not None},
        latency=_latency(entry.get("latency")),
        cpu_latency=_latency(entry.get("cpu_latency")),
        search_latency=_latency(entry.get("search_latency")),
        search_cpu_latency=_latency(entry.get("search_cpu_latency")),
    )


def _read_document(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise GateError("snapshot file not found", path=path, hint=SAVE_HINT)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GateError(f"snapshot is not valid JSON ({exc})", path=path, hint="re-create it") from None
    if not isinstance(doc, dict) or doc.get("format") not in (SNAPSHOT_FORMAT, LEGACY_FORMAT):
        found = doc.get("format") if isinstance(doc, dict) else None
        raise GateError(
            f"not a harness snapshot file (format {found!r}, expected '{SNAPSHOT_FORMAT}')",
            path=path,
            hint=SAVE_HINT,
        )
    if doc.get("version") != SNAPSHOT_VERSION:
        raise GateError(
            f"unsupported {doc['format']} version {doc.get('version')!r}",
            path=path,
            hint=f"this harness reads version {SNAPSHOT_VERSION}; re-create it with `harness snapshot save`",
        )
    return doc


def load_snapshot(path: Path) -> Snapshot:
    """Read a snapshot file; every defect is a GateError that names the file and the fix."""
    doc = _read_document(path)
    datasets, systems = doc.get("datasets"), doc.get("systems")
    if not isinstance(datasets, dict) or not isinstance(systems, dict) or not systems:
        raise GateError("snapshot holds no datasets or systems", path=path, hint="re-create it from a results.json")
    cells: dict[str, dict[str, SnapshotCell]] = {}
    for ds, entries in systems.items():
        if ds not in datasets or not isinstance(entries, dict):
            raise GateError(f"snapshot dataset '{ds}' lacks its fingerprint entry", path=path, hint="re-create it")
        cells[ds] = {str(s): _cell(path, f"{ds}/{s}", e) for s, e in entries.items()}
    fingerprints: dict[str, str | None] = {}
    for ds, info in datasets.items():
        fp = info.get("fingerprint") if isinstance(info, dict) else None
        fingerprints[str(ds)] = fp if isinstance(fp, str) else None
    ref = doc.get("reference_system")
    return Snapshot(
        path=path, reference=ref if isinstance(ref, str) else None, fingerprints=fingerprints, systems=cells
    )
