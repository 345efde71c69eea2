"""The issue "Beyond one machine"'s benchmark, in three parts.

(a) cost versus corpus size: MiniLM (flat, per-query timing) through `harness run` on the first
2,000 and 8,000 TREC-DL pool passages, the whole pool (27,274), and `corpus_scale.py`'s seeded
100k corpus (the pool plus shuffled-word distractors), each on an empty cache. Fits the growth
exponent (log-log least squares against size) of encoding, index build and per-query search
separately; the issue's goal is <= 1.1 for encoding and exact search.

(b) writes a BEIR folder of the first `--passages` TREC-DL pool passages (default 4,000) with the
DL19 queries, and runs one spec (BM25, MiniLM flat, SPLADE-tiny; batch timing; both encoders
with `encode_chunk: --shard`, default 500: 8 shards) through `harness run` three times, each with
an empty cache: `executor: local`, then `executor: {type: ray, num_cpus: 1}` and `{...,
num_cpus: 2}` (a local cluster started by the run: its shards are encoded by 1 and 2 Ray Data
actors). It reports each run's wall time, the Ray phases' own wall time and shard pools from
results.json, the ratios to local, and whether every run file is identical to the local one.

(c):

Writes seeded random unit vectors (float32, `--rows` x `--dim`, default 650,000 x 384: ~1.0 GB) as
an `.npy` file, the layout of the dense stage's cache entry, then runs three child processes, one
after another, each measured by its peak RSS (`/usr/bin/time -f %M`):

1. `imports`: the same imports and query vectors, no search (the constant every process pays);
2. `limited`: `ShardedFlat` with `memory_limit_mb` (default 100: a tenth of the file) searching
   `--queries` queries for the top 100, one query at a time and in one batch;
3. `in-memory`: FAISS `IndexFlatIP` over the loaded array, the same searches (the peer: what
   `index: flat` without a limit does).

Reports each side's peak RSS and search time, `limited` minus `imports` against the limit plus a
stated constant (`WORKING_MB`), and whether both answered the same ids and scores. Prints one
JSON line.

    python benchmarks/scaling.py [--parts a,b,c] [--sizes 2000,8000,27274,100000] [--passages 4000] [--shard 500]
                                 [--rows 650000] [--dim 384] [--memory-limit-mb 100] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TIME_BIN = Path("/usr/bin/time")
K = 100
WORKING_MB = 8.0
"""The stated constant above the limit: FAISS's working buffers during a search (its blocks of
query x document scores) and the merged answers."""
BLOCK = 50_000  # rows generated and written at a time


def write_embeddings(path: Path, rows: int, dim: int, seed: int) -> None:
    """Seeded unit vectors as a float32 `.npy`, written block by block (reused when present)."""
    if path.exists():
        return
    sys.path.insert(0, str(REPO))
    from harness.systems._sharded_flat import write_header

    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        write_header(out, rows, dim)
        for start in range(0, rows, BLOCK):
            block = rng.standard_normal((min(BLOCK, rows - start), dim), dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            out.write(block.tobytes())
    tmp.replace(path)


def child(mode: str, path: Path, limit_mb: float, queries: int, seed: int, out: Path) -> None:
    """One measured process: search `path` as `mode` says; writes its answers and timings."""
    import faiss

    sys.path.insert(0, str(REPO))
    from harness.systems._sharded_flat import ShardedFlat

    dim = int(np.load(path, mmap_mode="r").shape[1])
    q = np.random.default_rng(seed + 1).standard_normal((queries, dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    result: dict[str, Any] = {"mode": mode}
    if mode != "imports":
        if mode == "limited":
            index: Any = ShardedFlat(path, limit_mb)
        else:
            index = faiss.IndexFlatIP(dim)
            index.add(np.load(path))
        t0 = time.perf_counter()
        singles = [index.search(q[i : i + 1], K) for i in range(queries)]
        result["per_query_ms"] = round((time.perf_counter() - t0) * 1000 / queries, 2)
        t0 = time.perf_counter()
        scores, ids = index.search(q, K)
        result["batch_s"] = round(time.perf_counter() - t0, 3)
        result["singles_equal_batch"] = all(np.array_equal(s[1][0], ids[i]) for i, s in enumerate(singles))
        np.savez(out.with_suffix(".npz"), scores=scores, ids=ids)
    out.write_text(json.dumps(result), encoding="utf-8")


def measure(mode: str, args: argparse.Namespace, path: Path, work: Path) -> dict[str, Any]:
    out = work / f"{mode}.json"
    rss = work / f"{mode}.maxrss"
    cmd = [sys.executable, __file__, "--child", mode, "--path", str(path), "--out", str(out)]
    cmd += ["--memory-limit-mb", str(args.memory_limit_mb), "--queries", str(args.queries), "--seed", str(args.seed)]
    if TIME_BIN.exists():
        cmd = [str(TIME_BIN), "-f", "%M", "-o", str(rss), *cmd]
    subprocess.run(cmd, check=True)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    if TIME_BIN.exists():
        result["peak_rss_mb"] = round(int(rss.read_text(encoding="utf-8").split()[-1]) * 1024 / 1e6, 1)
    return result


SPEC_B = """name: scaling-b
datasets: [{{path: "{corpus}", split: dl19, name: dl19}}]
measures: [nDCG@10, R@100]
systems:
  bm25: {{type: bm25, depth: 100}}
  minilm: {{type: dense, model: all-MiniLM-L6-v2, depth: 100, encode_chunk: {chunk}}}
  splade: {{type: splade, model: splade-tiny, depth: 100, encode_chunk: {chunk}}}
latency: {{mode: batch}}
executor: {executor}
"""


def default_data_root() -> Path:
    return Path(os.environ.get("HARNESS_DATA_ROOT") or REPO.parent / "shared" / "data").resolve()


def fresh_run(spec_text: str, label: str, work: Path, data_root: Path) -> tuple[float, Path, dict[str, Any]]:
    """`harness run` of `spec_text` into an empty output folder with an empty cache, in a
    subprocess: (wall seconds, the output folder, its results.json)."""
    from _timed import timed

    spec = work / f"spec-{label}.yaml"
    spec.write_text(spec_text, encoding="utf-8")
    out, cache = work / f"out-{label}", work / f"cache-{label}"
    for folder in (out, cache):
        shutil.rmtree(folder, ignore_errors=True)
    env = {**os.environ, "HARNESS_DATA_ROOT": str(data_root), "HARNESS_CACHE_DIR": str(cache)}
    wall, _, _ = timed([sys.executable, "-m", "harness", "run", str(spec), "-o", str(out), "-q", "--no-report"], env)
    return wall, out, json.loads((out / "results.json").read_text(encoding="utf-8"))


def pool_slice(data_root: Path, dest: Path, passages: int) -> Path:
    """The first `passages` passages of the TREC-DL pool with DL19's queries and judgments."""
    pool = data_root / "msmarco" / "trec-dl"
    if not (dest / "corpus.jsonl.gz").exists():
        (dest / "qrels").mkdir(parents=True, exist_ok=True)
        with gzip.open(pool / "corpus.jsonl.gz", "rb") as src, gzip.open(dest / "corpus.jsonl.gz", "wb") as out:
            for i, line in enumerate(src):
                if i >= passages:
                    break
                out.write(line)
        shutil.copyfile(pool / "queries.jsonl", dest / "queries.jsonl")
        shutil.copyfile(pool / "qrels" / "dl19.tsv", dest / "qrels" / "dl19.tsv")
    return dest


SPEC_A = """name: scaling-a
datasets: [{{path: "{corpus}", split: dl19, name: dl19}}]
measures: [nDCG@10]
systems:
  minilm: {{type: dense, model: all-MiniLM-L6-v2, depth: 100}}
latency: {{mode: per-query, warmup: 5}}
"""


def part_a(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Encode, index build and per-query search of MiniLM flat against corpus size."""
    from corpus_scale import POOL, build_corpus, pool_lines

    data_root = default_data_root()
    lines = pool_lines(data_root / POOL)
    rows = []
    for size in (int(x) for x in args.sizes.split(",")):
        if size <= len(lines):
            corpus = pool_slice(data_root, work / f"pool-{size}", size)
        else:
            corpus = work / f"corpus-{size}-seed{args.seed}"
            build_corpus(data_root / POOL, corpus, size, args.seed, lines)
        wall, _, results = fresh_run(SPEC_A.format(corpus=corpus), f"a-{size}", work, data_root)
        stage = results["cells"][0]["timing"]["stages"][0]
        row = {
            "size": size,
            "wall_s": round(wall, 1),
            "encode_s": round(stage["costs"]["encode_s"], 2),
            "index_build_s": round(stage["costs"]["index_build_s"], 4),
            "search_p50_ms": stage["parts"]["search"]["latency"]["p50"],
        }
        sys.stderr.write(json.dumps(row) + "\n")
        rows.append(row)

    def slope(key: str) -> float:
        x = np.log([r["size"] for r in rows])
        return round(float(np.polyfit(x, np.log([max(r[key], 1e-9) for r in rows]), 1)[0]), 3)

    exponents = {k: slope(k) for k in ("encode_s", "index_build_s", "search_p50_ms")}
    goals = {"encode_le_1.1": exponents["encode_s"] <= 1.1, "exact_search_le_1.1": exponents["search_p50_ms"] <= 1.1}
    return {"rows": rows, "exponents": exponents, "goals": goals}


def part_b(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Local, Ray with 1 CPU, Ray with 2 CPUs: one `harness run` each, on an empty cache."""
    data_root = default_data_root()
    corpus = pool_slice(data_root, work / f"pool-{args.passages}", args.passages)
    runs: dict[str, Any] = {}
    hashes: dict[str, dict[str, str]] = {}
    for label, executor in (
        ("local", "local"),
        ("ray-1", "{type: ray, num_cpus: 1}"),
        ("ray-2", "{type: ray, num_cpus: 2}"),
    ):
        spec = SPEC_B.format(corpus=corpus, executor=executor, chunk=args.shard)
        wall, out, results = fresh_run(spec, label, work, data_root)
        ran = results["manifest"].get("executor", {})
        runs[label] = {
            "wall_s": round(wall, 2),
            "ray_wall_s": ran.get("wall_s"),
            "cpus": ran.get("cpus"),
            "shards": [{k: s[k] for k in ("system", "shards", "actors", "encode_s")} for s in ran.get("shards", [])],
        }
        hashes[label] = {
            c["system"]: hashlib.sha256((out / c["run_file"]).read_bytes()).hexdigest() for c in results["cells"]
        }
    return {
        "passages": args.passages,
        "runs": runs,
        "ratio_to_local": {k: round(v["wall_s"] / runs["local"]["wall_s"], 3) for k, v in runs.items()},
        "runs_identical_to_local": {k: v == hashes["local"] for k, v in hashes.items()},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="a,b,c", help="which parts to run (a, b, c)")
    ap.add_argument("--sizes", default="2000,8000,27274,100000", help="(a) corpus sizes")
    ap.add_argument("--passages", type=int, default=4_000, help="(b) pool passages")
    ap.add_argument("--shard", type=int, default=500, help="(b) encode_chunk: documents per shard")
    ap.add_argument("--rows", type=int, default=650_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--memory-limit-mb", type=float, default=100.0)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.path, args.memory_limit_mb, args.queries, args.seed, args.out)
        return 0
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="harness-scaling-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    parts = {p.strip() for p in args.parts.split(",")}
    result: dict[str, Any] = {"benchmark": "scaling"}
    if "a" in parts:
        result["a_cost_versus_size"] = part_a(args, work)
    if "b" in parts:
        result["b_local_vs_ray"] = part_b(args, work)
    if "c" in parts:
        result["c_exact_search_over_memory_limit"] = part_c(args, work)
    print(json.dumps(result))
    return 0


def part_c(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Exact search with `memory_limit_mb` against FAISS in memory, peak RSS and answers."""
    path = work / f"emb-{args.rows}x{args.dim}-seed{args.seed}.npy"
    write_embeddings(path, args.rows, args.dim, args.seed)
    sides = {mode: measure(mode, args, path, work) for mode in ("imports", "limited", "in-memory")}
    a, b = np.load(work / "limited.npz"), np.load(work / "in-memory.npz")
    file_mb = path.stat().st_size / 1e6
    over = None
    if "peak_rss_mb" in sides["limited"]:
        over = round(sides["limited"]["peak_rss_mb"] - sides["imports"]["peak_rss_mb"], 1)
    return {
        "rows": args.rows,
        "dim": args.dim,
        "embeddings_mb": round(file_mb, 1),
        "memory_limit_mb": args.memory_limit_mb,
        "embeddings_over_limit": round(file_mb / args.memory_limit_mb, 1),
        "sides": sides,
        "limited_rss_over_imports_mb": over,
        "allowed_over_imports_mb": args.memory_limit_mb + WORKING_MB,
        "within_limit": None if over is None else over <= args.memory_limit_mb + WORKING_MB,
        "same_ids": bool(np.array_equal(a["ids"], b["ids"])),
        "same_scores": bool(np.array_equal(a["scores"], b["scores"])),
    }


if __name__ == "__main__":
    raise SystemExit(main())
