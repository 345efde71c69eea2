"""Gate baselines: what a results.json measured, frozen into one committed JSON file.

Per dataset x system x measure the file holds the aggregate and every per-query value; per
dataset its content fingerprint; per cell the run file's sha256; and, where the run recorded
latency, each system's p50/p95 as a ratio to a reference system measured in the same run
(absolute times on shared machines are noise, ratios within one run are not).
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
from harness.latency import default_reference, latency_ratios
from harness.results import Cell, ResultSet

BASELINE_FORMAT = "harness-baseline"
BASELINE_VERSION = 1


def _cell_entry(
    cell: Cell, measures: list[str], latency: Mapping[str, float] | None, cpu: Mapping[str, float] | None
) -> dict[str, Any]:
    return {
        "run_file": cell.run_file,
        "run_sha256": cell.run_sha256,
        "judged": cell.judged,
        "measures": {
            m: {"aggregate": float(cell.aggregate[m]), "per_query": {q: float(v) for q, v in cell.per_query[m].items()}}
            for m in measures
            if m in cell.aggregate and m in cell.per_query
        },
        "latency": dict(latency) if latency is not None else None,
        "cpu_latency": dict(cpu) if cpu is not None else None,
    }


def build_baseline(results: ResultSet, reference: str | None = None) -> dict[str, Any]:
    """The baseline document for `results` (a plain JSON-able dict)."""
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
        ratios = latency_ratios(results, name, ref) if ref is not None else {}
        cpu = latency_ratios(results, name, ref, "cpu") if ref is not None else {}
        systems[name] = {
            c.system: _cell_entry(c, list(results.measures), ratios.get(c.system), cpu.get(c.system))
            for c in results.cells
            if c.dataset == name
        }
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
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


def save_baseline(results: ResultSet, path: Path, reference: str | None = None) -> dict[str, Any]:
    doc = build_baseline(results, reference)
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return doc


@dataclass(frozen=True)
class Baseline:
    """A loaded and checked baseline file."""

    path: Path
    doc: Mapping[str, Any]

    @property
    def reference(self) -> str | None:
        ref = self.doc.get("reference_system")
        return ref if isinstance(ref, str) else None

    @property
    def datasets(self) -> Mapping[str, Mapping[str, Any]]:
        d: Mapping[str, Mapping[str, Any]] = self.doc["datasets"]
        return d

    @property
    def systems(self) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
        s: Mapping[str, Mapping[str, Mapping[str, Any]]] = self.doc["systems"]
        return s


def load_baseline(path: Path) -> Baseline:
    """Read a baseline file; every defect is a GateError that names the file and the fix."""
    if not path.is_file():
        raise GateError(
            "baseline file not found", path=path, hint="create it with `harness baseline save RESULTS_DIR -o FILE`"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GateError(f"baseline is not valid JSON ({exc})", path=path, hint="re-create it") from None
    if not isinstance(doc, dict) or doc.get("format") != BASELINE_FORMAT:
        raise GateError(
            "not a harness baseline file (no 'format: harness-baseline')",
            path=path,
            hint="create it with `harness baseline save RESULTS_DIR -o FILE`",
        )
    if doc.get("version") != BASELINE_VERSION:
        raise GateError(
            f"unsupported baseline version {doc.get('version')!r}",
            path=path,
            hint=f"this harness reads version {BASELINE_VERSION}; re-create the baseline",
        )
    datasets, systems = doc.get("datasets"), doc.get("systems")
    if not isinstance(datasets, dict) or not isinstance(systems, dict) or not systems:
        raise GateError("baseline holds no datasets or systems", path=path, hint="re-create it from a results.json")
    for ds, cells in systems.items():
        if ds not in datasets or not isinstance(cells, dict):
            raise GateError(f"baseline dataset '{ds}' lacks its fingerprint entry", path=path, hint="re-create it")
        for sysname, entry in cells.items():
            measures = entry.get("measures") if isinstance(entry, dict) else None
            if not isinstance(measures, dict) or not all(
                isinstance(v, dict)
                and isinstance(v.get("aggregate"), (int, float))
                and isinstance(v.get("per_query"), dict)
                for v in measures.values()
            ):
                raise GateError(
                    f"baseline entry {ds}/{sysname} lacks measures with 'aggregate' and 'per_query'",
                    path=path,
                    hint="re-create it with `harness baseline save`",
                )
    return Baseline(path=path, doc=doc)
