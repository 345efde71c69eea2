"""BM25 on MS MARCO-like corpora from 27k to 1M passages, cold and warm, through `harness run`.

Each corpus holds every passage of the TREC-DL pool (msmarco/trec-dl, 27,274 passages, original
ids, so the DL19 judgments still apply) plus seeded synthetic distractors `syn-0000001`, ...: each
one shuffles the words of a random pool passage and keeps a random 50-100% of them (near-duplicates
that never hold a word more often than their source). Corpora are BEIR folders in the work folder
(gzip with mtime=0, so a size and seed always give the same bytes), reused when already built.

Per size, one BM25 system (k1=0.9, b=0.4, depth 1000; nDCG@10, R@100; per-query latency) runs in
a `harness run` subprocess three times, each into a fresh output folder: cold (empty
HARNESS_CACHE_DIR: the corpus is converted into its document store and the index built), warm
(the same cache again), and cold with the corpus read into memory (HARNESS_CORPUS_IN_MEMORY=1,
another empty cache: the path before the document store). `--backend` picks bm25s's backend
(auto: numba when installed). Measured per run: wall time, the child's CPU time (user + sys,
getrusage(RUSAGE_CHILDREN) deltas), the child's peak RSS (`/usr/bin/time -f %M` when present, else
the largest ru_maxrss of any child so far; `rss_source` says which), per-query p50 and nDCG@10 from
results.json, the harness's own offline prepare/build seconds, and the run file's sha256 (cold,
warm and in-memory must be byte-identical). Growth exponents are log-log least-squares slopes against size.

Goals (issue "MS MARCO scale on one machine"): peak RSS at 1M <= 1.2 GB (1.2e9 bytes; MB below
are 1e6 bytes), warm wall time at 1M <= 10% of cold, the three runs identical. Prints one
JSON line; the goals are reported, not enforced: exit code 0 unless a run fails.

    python benchmarks/corpus_scale.py [--sizes 27k,100k] [--workdir DIR] [--seed 0] [--backend numpy]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from _timed import timed

REPO = Path(__file__).resolve().parent.parent
POOL = Path("msmarco") / "trec-dl"
SPLIT = "dl19"
TIME_BIN = Path("/usr/bin/time")
RSS_GOAL_MB = 1200.0  # 1.2 GB
WARM_GOAL = 0.10
BATCH = 20_000  # synthetic passages generated per numpy batch (part of the seeded stream)
SPEC = """name: corpus-scale-{label}
datasets: [{{path: "{corpus}", split: {split}, name: {split}}}]
measures: [nDCG@10, R@100]
systems:
  bm25: {{type: bm25, k1: 0.9, b: 0.4, depth: 1000, backend: {backend}}}
latency: {{mode: per-query, warmup: 5}}
"""


def parse_sizes(text: str, pool_size: int) -> list[tuple[str, int]]:
    """'27k,100k,1M' -> [(label, passages)]; any size up to the pool's is the pool itself."""
    out = []
    for label in (s.strip() for s in text.split(",") if s.strip()):
        mult = {"k": 1_000, "m": 1_000_000}.get(label[-1].lower(), 1)
        number = label[:-1] if mult > 1 else label
        try:
            size = int(float(number) * mult)
        except ValueError:
            raise SystemExit(f"bad size {label!r}: use e.g. 27k, 100k, 1M") from None
        out.append((label, max(size, pool_size)))
    return out


def pool_lines(pool: Path) -> list[bytes]:
    with gzip.open(pool / "corpus.jsonl.gz", "rb") as f:
        return [line.rstrip(b"\n") + b"\n" for line in f if line.strip()]


def tokenize(lines: list[bytes]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Vocabulary, flat token ids, and each non-empty passage's offset and length in them."""
    vocab: dict[str, int] = {}
    tokens: list[int] = []
    offsets: list[int] = []
    lengths: list[int] = []
    for line in lines:
        doc = json.loads(line)
        words = f"{doc.get('title', '')} {doc['text']}".split()
        if words:
            offsets.append(len(tokens))
            lengths.append(len(words))
            tokens.extend(vocab.setdefault(w, len(vocab)) for w in words)
    return list(vocab), np.asarray(tokens, np.int64), np.asarray(offsets, np.int64), np.asarray(lengths, np.int64)


def distractors(rng: np.random.Generator, offsets: np.ndarray, lengths: np.ndarray, n: int) -> tuple[Any, Any]:
    """Token positions of `n` distractors, concatenated, and their lengths: each one shuffles the
    words of a random pool passage and keeps a random 50-100% of them (no word more often than
    in its source, so a distractor never outscores its source on term frequency)."""
    src = rng.integers(0, len(lengths), n)
    lens = lengths[src]
    keep = np.ceil(lens * rng.uniform(0.5, 1.0, n)).astype(np.int64)
    starts = np.cumsum(lens) - lens
    rank = np.arange(int(lens.sum())) - np.repeat(starts, lens)  # position inside the source passage
    source_pos = np.repeat(offsets[src], lens) + rank
    order = np.lexsort((rng.random(len(rank)), np.repeat(np.arange(n), lens)))  # shuffle within each passage
    return source_pos[order][rank < np.repeat(keep, lens)], keep


def synthetic_lines(lines: list[bytes], count: int, seed: int) -> Iterator[bytes]:
    """`count` distractor passages as JSONL lines, a deterministic function of the pool and seed."""
    vocab, tokens, offsets, lengths = tokenize(lines)
    words_of = np.asarray(vocab, dtype=object)
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        n = min(BATCH, count - done)
        picks, lens = distractors(rng, offsets, lengths, n)
        words = words_of[tokens[picks]].tolist()
        start = 0
        chunk = []
        for i, end in enumerate(np.cumsum(lens).tolist()):
            doc = {"_id": f"syn-{done + i + 1:07d}", "title": "", "text": " ".join(words[start:end])}
            chunk.append(json.dumps(doc, ensure_ascii=False))
            start = end
        yield ("\n".join(chunk) + "\n").encode("utf-8")
        done += n


def build_corpus(pool: Path, dest: Path, size: int, seed: int, lines: list[bytes]) -> float:
    """Write the BEIR folder `dest` (reused when its corpus exists); seconds spent building."""
    corpus = dest / "corpus.jsonl.gz"
    t0 = time.perf_counter()
    if not corpus.exists():
        (dest / "qrels").mkdir(parents=True, exist_ok=True)
        tmp = corpus.with_suffix(".tmp")
        with tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
            gz.writelines(lines)
            for block in synthetic_lines(lines, size - len(lines), seed):
                gz.write(block)
        tmp.replace(corpus)
    (dest / "qrels").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pool / "queries.jsonl", dest / "queries.jsonl")
    shutil.copyfile(pool / "qrels" / f"{SPLIT}.tsv", dest / "qrels" / f"{SPLIT}.tsv")
    return time.perf_counter() - t0


def harness_run(spec: Path, out: Path, cache: Path, data_root: Path, in_memory: bool = False) -> dict[str, Any]:
    """One `harness run SPEC -o OUT -q` subprocess into a fresh OUT; its costs and results.
    `in_memory`: the corpus read into Python objects, not through its document store."""
    shutil.rmtree(out, ignore_errors=True)  # fresh output folder: nothing is resumed
    env = {**os.environ, "HARNESS_DATA_ROOT": str(data_root), "HARNESS_CACHE_DIR": str(cache)}
    env["HARNESS_CORPUS_IN_MEMORY"] = "1" if in_memory else "0"
    cmd = [sys.executable, "-m", "harness", "run", str(spec), "-o", str(out), "-q"]
    rss_file = out.with_name(out.name + ".maxrss")
    if TIME_BIN.exists():
        cmd = [str(TIME_BIN), "-f", "%M", "-o", str(rss_file), *cmd]
    wall, cpu, _ = timed(cmd, env)
    if TIME_BIN.exists():
        rss_kib, rss_source = int(rss_file.read_text(encoding="utf-8").split()[-1]), "/usr/bin/time %M"
    else:
        rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rss_source = "max ru_maxrss over children so far"
    cell = json.loads((out / "results.json").read_text(encoding="utf-8"))["cells"][0]
    run_file = next((out / "runs").glob("*/bm25.trec.gz"))
    offline = cell["timing"].get("offline") or {}
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(rss_kib * 1024 / 1e6, 1),
        "p50_ms": cell["timing"]["latency"]["p50"],
        "prepare_s": offline.get("prepare_s"),
        "build_s": offline.get("build_s"),
        "index_cached": offline.get("cached"),
        "bm25_backend": cell["timing"]["stages"][0]["costs"].get("backend"),
        "rss_source": rss_source,
        "ndcg10": cell["aggregate"]["nDCG@10"],
        "sha256": hashlib.sha256(run_file.read_bytes()).hexdigest(),
    }


def measure_size(label: str, size: int, args: argparse.Namespace, work: Path, lines: list[bytes]) -> dict[str, Any]:
    """Build (or reuse) the corpus of `size` passages, then a cold and a warm run on it."""
    corpus = work / f"corpus-{size}-seed{args.seed}"
    build_s = build_corpus(args.data_root / POOL, corpus, size, args.seed, lines)
    spec = work / f"spec-{size}.yaml"
    spec.write_text(SPEC.format(label=label, corpus=corpus, split=SPLIT, backend=args.backend), encoding="utf-8")
    cache = work / f"cache-{size}"
    shutil.rmtree(cache, ignore_errors=True)  # cold: an empty artefact cache
    cache.mkdir(parents=True)
    cold = harness_run(spec, work / f"out-{size}-cold", cache, args.data_root)
    warm = harness_run(spec, work / f"out-{size}-warm", cache, args.data_root)
    memory_cache = work / f"cache-{size}-in-memory"
    shutil.rmtree(memory_cache, ignore_errors=True)
    memory = harness_run(spec, work / f"out-{size}-in-memory", memory_cache, args.data_root, in_memory=True)
    identical = cold["sha256"] == warm["sha256"] == memory["sha256"]
    for r in (cold, warm, memory):
        r.pop("sha256")
    ndcg = cold.pop("ndcg10")
    warm_ndcg = warm.pop("ndcg10")
    rss_source = cold.pop("rss_source")
    warm.pop("rss_source")
    memory.pop("rss_source")
    memory.pop("ndcg10")
    row = {
        "size": size,
        "label": label,
        "corpus_build_s": round(build_s, 1),
        "cold": cold,
        "warm": warm,
        "in_memory_cold": memory,
        "warm_over_cold": round(warm["wall_s"] / cold["wall_s"], 3),
        "identical_runs": identical,
        "ndcg10": round(ndcg, 4),
        "rss_source": rss_source,
    }
    if warm_ndcg != ndcg:
        row["warm_ndcg10"] = round(warm_ndcg, 4)
    sys.stderr.write(json.dumps(row) + "\n")  # progress: one line per size
    return row


def exponent(rows: list[dict[str, Any]], key: str) -> float | None:
    """Slope of log(cold[key]) against log(size): time ~ size^slope."""
    points = [(r["size"], r["cold"][key]) for r in rows if r["cold"][key]]
    if len({s for s, _ in points}) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return round(float(np.polyfit(x, y, 1)[0]), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="27k,100k,300k,1M", help="comma-separated corpus sizes (27k = the pool)")
    ap.add_argument("--workdir", type=Path, default=None, help="corpora, caches and outputs (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", choices=["auto", "numpy", "numba"], default="auto", help="bm25s backend")
    default_root = os.environ.get("HARNESS_DATA_ROOT", REPO.parent / "shared" / "data")
    ap.add_argument("--data-root", type=Path, default=Path(default_root))
    args = ap.parse_args(argv)
    args.data_root = args.data_root.resolve()
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="corpus-scale-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    lines = pool_lines(args.data_root / POOL)
    rows = [measure_size(label, size, args, work, lines) for label, size in parse_sizes(args.sizes, len(lines))]
    at_1m = next((r for r in rows if r["size"] == 1_000_000), None)
    result = {
        "benchmark": "corpus_scale",
        "seed": args.seed,
        "backend": args.backend,
        "workdir": str(work),
        "rows": rows,
        "exponents": {
            "cold_wall_s": exponent(rows, "wall_s"),
            "cold_peak_rss_mb": exponent(rows, "peak_rss_mb"),
            "cold_p50_ms": exponent(rows, "p50_ms"),
        },
        "goals": {
            "peak_rss_1m_le_1.2gb": None
            if at_1m is None
            else max(at_1m["cold"]["peak_rss_mb"], at_1m["warm"]["peak_rss_mb"]) <= RSS_GOAL_MB,
            "warm_1m_le_10pct_cold": None if at_1m is None else at_1m["warm_over_cold"] <= WARM_GOAL,
            "runs_identical": all(r["identical_runs"] for r in rows),
        },
        "total_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
