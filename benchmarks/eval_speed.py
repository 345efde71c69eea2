"""`harness eval` against the plain pytrec_eval recipe on an MS MARCO dev-sized run.

Generates (seeded) a run of 6,980 queries x 1,000 documents (7M lines, MS MARCO passage-style
numeric ids, scores printed with 6 decimals as Anserini/Pyserini write them, so some scores tie)
and qrels with 1-4 judgments per query (graded 0-3, mostly documents of the run, some not
retrieved) in a temporary folder. Then, each in its own subprocess:

- plain: split lines in Python, build the nested dicts, `pytrec_eval.RelevanceEvaluator(qrels,
  measures).evaluate(run)` (one evaluator, so the measures are ones that need no cut run);
- harness: `harness eval QRELS RUN -q` with the same measures.

Wall time and CPU time (user + sys of the child, resource.getrusage RUSAGE_CHILDREN) are taken
for both; the per-query values and the means must agree to 1e-9. Prints one JSON line.

    python benchmarks/eval_speed.py [--queries 6980] [--depth 1000] [--seed 11] [--workdir DIR]
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

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.5
MEASURES = {"nDCG@10": "ndcg_cut_10", "R@100": "recall_100", "AP": "map", "RR": "recip_rank"}
COLLECTION = 8_841_823  # MS MARCO passages: ids 0..8841822

PLAIN = """
import json, sys
import pytrec_eval
qrels_path, run_path, out_path, *measures = sys.argv[1:]
qrels = {}
with open(qrels_path) as f:
    for line in f:
        q, _, d, r = line.split()
        qrels.setdefault(q, {})[d] = int(r)
run = {}
with open(run_path) as f:
    for line in f:
        q, _, d, _, s, _ = line.split()
        run.setdefault(q, {})[d] = float(s)
scores = pytrec_eval.RelevanceEvaluator(qrels, set(measures)).evaluate(run)
with open(out_path, "w") as f:
    json.dump(scores, f)
"""


def generate(folder: Path, queries: int, depth: int, seed: int) -> tuple[Path, Path]:
    """A run and its qrels, the same for the same arguments."""
    import numpy as np

    rng = np.random.default_rng(seed)
    qids = rng.choice(np.arange(1, 1_200_000), queries, replace=False)
    # Distinct documents per query: an arithmetic progression (step * depth < the collection).
    offset = rng.integers(0, COLLECTION, queries)
    step = rng.integers(1, COLLECTION // depth, queries)
    docs = (offset[:, None] + step[:, None] * np.arange(depth)[None, :]) % COLLECTION
    docs = rng.permuted(docs, axis=1)
    scores = -np.sort(-rng.normal(10.0, 3.0, (queries, depth)), axis=1)
    run, qrels = folder / "run.trec", folder / "qrels.txt"
    with open(run, "w", encoding="ascii") as f:
        for q, ds, ss in zip(qids.tolist(), docs.tolist(), scores.tolist(), strict=True):
            f.write(
                "".join(f"{q} Q0 {d} {r} {s:.6f} bench\n" for r, (d, s) in enumerate(zip(ds, ss, strict=True), start=1))
            )
    with open(qrels, "w", encoding="ascii") as f:
        for i, q in enumerate(qids.tolist()):
            n = int(rng.integers(1, 5))
            ranks = np.minimum(rng.geometric(0.05, n) - 1, depth - 1)
            for r in sorted(set(ranks.tolist())):
                d = int(docs[i, r]) if rng.random() < 0.8 else int(rng.integers(0, COLLECTION))
                f.write(f"{q} 0 {d} {int(rng.integers(0, 4))}\n")
    return qrels, run


def timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall s, CPU s of the child: user + sys, the finished process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed with exit code {proc.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def harness_values(stdout: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for line in stdout.splitlines():
        name, qid, value = line.split("\t")
        out.setdefault(name.strip(), {})[qid] = float(value)
    return out


def compare(plain: dict[str, dict[str, float]], harness: dict[str, dict[str, float]]) -> float:
    """The largest difference between the two sides, per query and for the mean."""
    worst = 0.0
    for name, trec in MEASURES.items():
        got = harness[name]
        mine = {q: v for q, v in got.items() if q != "all"}
        if set(mine) != set(plain):
            raise SystemExit(f"{name}: the two sides score different queries")
        for q, values in plain.items():
            worst = max(worst, abs(values[trec] - mine[q]))
        mean = sum(v[trec] for v in plain.values()) / len(plain)
        worst = max(worst, abs(mean - got["all"]))
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=6980)
    ap.add_argument("--depth", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the files here (default: a temp folder)")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="harness-eval-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        qrels, run = generate(work, args.queries, args.depth, args.seed)
        script = work / "plain.py"
        script.write_text(PLAIN, encoding="utf-8")
        plain_out = work / "plain.json"
        p_wall, p_cpu, _ = timed(
            [sys.executable, str(script), str(qrels), str(run), str(plain_out), *MEASURES.values()]
        )
        measure_args = [a for m in MEASURES for a in ("-m", m)]
        # Per-query lines (-q) so that every value is compared, not only the means.
        h_wall, h_cpu, proc = timed(
            [sys.executable, "-m", "harness", "eval", str(qrels), str(run), "-q", *measure_args]
        )
        plain = json.loads(plain_out.read_text(encoding="utf-8"))
        # harness prints 4 decimals; the exact values are compared through the Python API below.
        printed = compare(plain, harness_values(proc.stdout))
        exact = exact_difference(plain, qrels, run)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    report: dict[str, Any] = {
        "benchmark": "eval_speed",
        "lines": args.queries * args.depth,
        "queries": args.queries,
        "measures": list(MEASURES),
        "plain_pytrec_eval": {"wall_s": round(p_wall, 3), "cpu_s": round(p_cpu, 3)},
        "harness_eval": {"wall_s": round(h_wall, 3), "cpu_s": round(h_cpu, 3)},
        "ratio": {"wall": round(h_wall / p_wall, 3), "cpu": round(h_cpu / p_cpu, 3)},
        "target_ratio": TARGET,
        "max_abs_difference": exact,
        "printed_max_abs_difference": round(printed, 6),
        "identical_1e-9": exact <= 1e-9,
        "pass": exact <= 1e-9 and h_wall / p_wall <= TARGET and h_cpu / p_cpu <= TARGET,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report))
    return 0 if report["identical_1e-9"] else 1


def exact_difference(plain: dict[str, dict[str, float]], qrels: Path, run: Path) -> float:
    """The largest difference between pytrec_eval's values and the harness's own (unrounded),
    computed in this process through the same path `harness eval` takes."""
    sys.path.insert(0, str(REPO))
    from harness.data.run_fast import read_run_table
    from harness.data.trec import read_qrels
    from harness.evaluation.measures import evaluate

    ev = evaluate(read_qrels(qrels), read_run_table(run), list(MEASURES))
    worst = 0.0
    for name, trec in MEASURES.items():
        for q, v in plain.items():
            worst = max(worst, abs(v[trec] - ev.per_query[name][q]))
        mean = sum(v[trec] for v in plain.values()) / len(plain)
        worst = max(worst, abs(mean - ev.aggregate[name]))
    return worst


if __name__ == "__main__":
    sys.exit(main())
