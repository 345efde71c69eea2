"""What the artefact cache saves, measured in one run of this script.

1. The trade-offs experiment (experiments/scifact-tradeoffs.yaml, on the first N queries), in a
   fresh cache: a cold run, then the same command again (finished cells are kept: the
   "second run of an unchanged spec"), then a run into a new output folder with the warm cache
   (every cell recomputed, every expensive artefact read back: embeddings, indexes, SPLADE
   vectors, cross-encoder pair scores). Acceptance: warm wall time <= 10% of cold.
2. Cross-encoder `top` sweep {10, 20, 50, 100} over BM25's top 100 vs top 100 alone, each in
   its own fresh cache. Pair scores are cached by model + query text + document text, so the
   sweep scores each pair once. Acceptance: sweep <= 1.2x top 100 alone.

Each measurement is a `harness run` subprocess; wall time and the child's CPU time (user +
sys, less sensitive to other load on a shared machine) are both reported.

    python benchmarks/cache_reuse.py [--queries 10] [--sweep-queries 10] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
WARM_MAX = 0.10
SWEEP_MAX = 1.2


def harness_run(spec: Path, out: Path, cache: Path, data_root: str) -> dict[str, Any]:
    """Run `harness run SPEC -o OUT` in a subprocess; wall seconds, CPU seconds, cells."""
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "HARNESS_DATA_ROOT": data_root}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(spec), "-o", str(out), "-q"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"harness run {spec} failed with exit code {proc.returncode}")
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    cells = results["cells"]
    pairs = sum(
        int(s.get("costs", {}).get("pairs_scored", 0))
        for c in cells
        for s in (c.get("timing") or {}).get("stages", [])
        if s.get("type") == "rerank"
    )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "cells": len(cells),
        "cells_cached": sum(1 for c in cells if c.get("resumed")),
        "pairs_scored": pairs,
        "aggregates": {c["system"]: c["aggregate"] for c in cells},
    }


def subset_spec(src: Path, dst: Path, queries: int, name: str, systems: dict[str, Any] | None = None) -> Path:
    spec = yaml.safe_load(src.read_text(encoding="utf-8"))
    spec["name"] = name
    datasets = []
    for ds in spec["datasets"]:
        ref = {"id": ds} if isinstance(ds, str) else dict(ds)
        ref["queries"] = {"first": queries}
        datasets.append(ref)
    spec["datasets"] = datasets
    spec.pop("compare", None)  # statistics are not what is measured here
    if systems is not None:
        spec["systems"] = systems
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return dst


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", type=Path, default=REPO / "experiments" / "scifact-tradeoffs.yaml")
    ap.add_argument("--queries", type=int, default=10, help="queries of the trade-offs experiment")
    ap.add_argument("--sweep-queries", type=int, default=10, help="queries of the rerank top-sweep comparison")
    ap.add_argument("--workdir", type=Path, default=None, help="keep everything here (default: a temp folder)")
    ap.add_argument("--skip-tradeoffs", action="store_true")
    ap.add_argument("--skip-sweep", action="store_true")
    args = ap.parse_args()

    data_root = os.environ.get("HARNESS_DATA_ROOT") or str(REPO.parent / "shared" / "data")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="harness-bench-"))
    if args.workdir is not None and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    report: dict[str, Any] = {"workdir": str(work)}
    ok = True
    print(f"workdir: {work}", flush=True)

    if not args.skip_tradeoffs:
        spec = subset_spec(args.spec, work / "tradeoffs" / "spec.yaml", args.queries, "bench-tradeoffs")
        cache = work / "tradeoffs" / "cache"
        runs = {}
        for label, out in (("cold", "out"), ("rerun", "out"), ("warm-new-output", "out-warm")):
            runs[label] = harness_run(spec, work / "tradeoffs" / out, cache, data_root)
            r = runs[label]
            print(
                f"tradeoffs {label:16s} wall {r['wall_s']:8.1f} s  cpu {r['cpu_s']:8.1f} s  "
                f"cells {r['cells']} ({r['cells_cached']} kept)  pairs scored {r['pairs_scored']}",
                flush=True,
            )
        cold = runs["cold"]
        same = all(runs[k]["aggregates"] == cold["aggregates"] for k in ("rerun", "warm-new-output"))
        for label in ("rerun", "warm-new-output"):
            w = ratio(runs[label]["wall_s"], cold["wall_s"])
            passed = w <= WARM_MAX
            ok &= passed
            print(
                f"  {label} / cold: wall {w:.3f}  cpu {ratio(runs[label]['cpu_s'], cold['cpu_s']):.3f}  "
                f"(<= {WARM_MAX}: {'PASS' if passed else 'FAIL'})",
                flush=True,
            )
        print(f"  identical measures in every run: {same}", flush=True)
        ok &= same
        report["tradeoffs"] = {
            "queries": args.queries,
            **{k: {kk: vv for kk, vv in v.items() if kk != "aggregates"} for k, v in runs.items()},
            "identical_measures": same,
        }

    if not args.skip_sweep:
        base = {"bm25": {"type": "bm25", "k1": 0.9, "b": 0.4, "depth": 1000}}

        def ce(top: int | list[int]) -> dict[str, Any]:
            return {
                **base,
                "bm25-ce": [
                    {"type": "use", "system": "bm25", "depth": 100},
                    {"type": "rerank", "model": "ms-marco-MiniLM-L-12-v2", "top": top},
                ],
            }

        sweep: dict[str, dict[str, Any]] = {}
        for label, top in (("top-100", 100), ("sweep-10-20-50-100", [10, 20, 50, 100])):
            d = work / "sweep" / label
            spec = subset_spec(args.spec, d / "spec.yaml", args.sweep_queries, f"bench-{label}", ce(top))
            sweep[label] = harness_run(spec, d / "out", d / "cache", data_root)
            r = sweep[label]
            print(
                f"rerank {label:19s} wall {r['wall_s']:8.1f} s  cpu {r['cpu_s']:8.1f} s  "
                f"cells {r['cells']}  pairs scored {r['pairs_scored']}",
                flush=True,
            )
        alone, swept = sweep["top-100"], sweep["sweep-10-20-50-100"]
        w, c = ratio(swept["wall_s"], alone["wall_s"]), ratio(swept["cpu_s"], alone["cpu_s"])
        p = ratio(swept["pairs_scored"], alone["pairs_scored"])
        passed = w <= SWEEP_MAX
        ok &= passed
        print(
            f"  sweep / top 100 alone: wall {w:.3f}  cpu {c:.3f}  pairs scored {p:.3f}  "
            f"(<= {SWEEP_MAX}: {'PASS' if passed else 'FAIL'})",
            flush=True,
        )
        report["sweep"] = {
            "queries": args.sweep_queries,
            **{k: {kk: vv for kk, vv in v.items() if kk != "aggregates"} for k, v in sweep.items()},
            "ratios": {"wall": round(w, 4), "cpu": round(c, 4), "pairs_scored": round(p, 4)},
        }

    (work / "benchmark.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"summary: {work / 'benchmark.json'}  verdict: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
