"""A large result set on disk and back: results.json size and load time, lean (schema 3, per-query
data in Parquet) against everything inline in one JSON file (schema 2, what the harness wrote
before).

Runs `experiments/scifact-bm25.yaml` once (per-query timing, 300 queries, 5 measures) into a
temporary folder and takes its cell as the template of a synthetic result set: `--systems`
(default 20) systems x `--queries` (default 7,000) queries, every per-query value and latency
sample drawn with a fixed seed. Writes it both ways, then, each in a fresh subprocess (so that no
import or file cache of the writer helps), times `ResultSet.load` and `harness.load_results(DIR)
.per_query()`, and checks that both ways read back the same record. The issue's goals: the lean
results.json under 1 MB, and loading under 2 s. Prints one JSON line.

    python benchmarks/results_scale.py [--systems 20] [--queries 7000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def template(work: Path) -> Path:
    """A real per-query-timed results folder (the README's main experiment)."""
    out = work / "template"
    if not (out / "results.json").exists():
        cmd = [sys.executable, "-m", "harness", "run", str(REPO / "experiments" / "scifact-bm25.yaml"), "-o", str(out)]
        subprocess.run([*cmd, "-q", "--no-report"], check=True)
    return out


def synthetic(template_dir: Path, systems: int, queries: int, seed: int) -> Any:
    """The template's result set grown to `systems` x `queries`, values drawn with `seed`."""
    import numpy as np

    from harness.results import ResultSet, SystemInfo

    rs = ResultSet.load(template_dir)
    cell = rs.cells[0]
    rng = np.random.default_rng(seed)
    ids = [f"q{i}" for i in range(queries)]
    cells = []
    for s in range(systems):
        name = f"system-{s:02d}"
        per_query = {m: dict(zip(ids, rng.random(queries).tolist(), strict=True)) for m in cell.aggregate}
        timing = cell.timing
        assert timing is not None  # the template is timed per query
        stages = tuple(
            st.model_copy(update={"samples_ms": tuple(rng.gamma(2.0, 0.5, queries).tolist())}) for st in timing.stages
        )
        new_timing = timing.model_copy(
            update={
                "query_ids": tuple(ids),
                "samples_ms": tuple(rng.gamma(2.0, 0.5, queries).tolist()),
                "cpu_samples_ms": tuple(rng.gamma(2.0, 0.5, queries).tolist()),
                "stages": stages,
            }
        )
        aggregate = {m: float(np.mean(list(v.values()))) for m, v in per_query.items()}
        cells.append(
            cell.model_copy(
                update={"system": name, "per_query": per_query, "aggregate": aggregate, "timing": new_timing}
            )
        )
    infos = {c.system: SystemInfo(base=c.system, config=rs.systems[cell.system].config) for c in cells}
    return rs.model_copy(update={"cells": cells, "systems": infos, "comparisons": {}})


CHILD = """
import json, sys, time
t0 = time.perf_counter()
from harness.results import ResultSet
rs = ResultSet.load(__import__("pathlib").Path(sys.argv[1]))
t1 = time.perf_counter()
import harness
frame = harness.load_results(sys.argv[1]).per_query()
t2 = time.perf_counter()
record = rs.to_dict() | {"schema_version": 0, "tables": {}}  # the layouts differ in these two only
digest = __import__("hashlib").sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
print(json.dumps({"load_s": round(t1 - t0, 3), "frame_s": round(t2 - t1, 3), "rows": len(frame), "digest": digest}))
"""


def read_back(folder: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder)], check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", type=int, default=20)
    ap.add_argument("--queries", type=int, default=7_000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("HARNESS_DATA_ROOT", str(REPO.parent / "shared" / "data"))
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="harness-results-scale-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    rs = synthetic(template(work), args.systems, args.queries, args.seed)
    lean, inline = work / "lean", work / "inline"
    lean.mkdir(exist_ok=True)
    inline.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    rs.save(lean)
    save_s = time.perf_counter() - t0
    (inline / "results.json").write_text(json.dumps({**rs.to_dict(), "schema_version": 2}, indent=1) + "\n")
    sizes = {
        "lean_results_json_mb": round((lean / "results.json").stat().st_size / 1e6, 3),
        "lean_table_mb": round((lean / "per_query.parquet").stat().st_size / 1e6, 3),
        "inline_results_json_mb": round((inline / "results.json").stat().st_size / 1e6, 3),
    }
    lean_read, inline_read = read_back(lean), read_back(inline)
    result = {
        "benchmark": "results_scale",
        "systems": args.systems,
        "queries": args.queries,
        "measures": len(rs.measures),
        **sizes,
        "save_s": round(save_s, 3),
        "lean": lean_read,
        "inline": inline_read,
        "load_ratio_lean_to_inline": round(lean_read["load_s"] / inline_read["load_s"], 3),
        "same_record": lean_read["digest"] == inline_read["digest"],
        "goals": {
            "results_json_under_1_mb": sizes["lean_results_json_mb"] < 1.0,
            "loads_under_2_s": lean_read["load_s"] + lean_read["frame_s"] < 2.0,
        },
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
