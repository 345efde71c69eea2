"""Exact search over embeddings ten times larger than its memory limit (issue "Beyond one machine",
acceptance (c)); parts (a) cost versus corpus size and (b) local versus Ray are not built yet.

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

    python benchmarks/scaling.py [--rows 650000] [--dim 384] [--memory-limit-mb 100] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    path = work / f"emb-{args.rows}x{args.dim}-seed{args.seed}.npy"
    write_embeddings(path, args.rows, args.dim, args.seed)
    sides = {mode: measure(mode, args, path, work) for mode in ("imports", "limited", "in-memory")}
    a, b = np.load(work / "limited.npz"), np.load(work / "in-memory.npz")
    file_mb = path.stat().st_size / 1e6
    over = None
    if "peak_rss_mb" in sides["limited"]:
        over = round(sides["limited"]["peak_rss_mb"] - sides["imports"]["peak_rss_mb"], 1)
    print(
        json.dumps(
            {
                "benchmark": "scaling (c): exact search over embeddings larger than memory_limit",
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
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
