"""Per-query cost of the harness's stages against the same library call made directly, in one run.

Four stages on BEIR SciFact (test queries, the first `--queries`), each side timed per call with
`time.perf_counter`, p50 over every call of every round:

1. dense_encode: the dense stage's `encode` step (`Stage.part`) for one query vs
   `SentenceTransformer(<the same model folder>).encode([q])`, both fp32;
2. faiss_search: the dense stage's `search` step vs `index.search(vec[None], k)` on an IndexFlatIP
   over the same SciFact embeddings (k = the stage's depth, 1000);
3. bm25: the bm25 stage's whole `search([q])` vs bm25s's `tokenize` + `BM25.retrieve` of that one
   query on the tokenizer and index the stage built (so both search the same index; k = 1000);
4. rerank: the rerank stage re-ranking the query's BM25 top 100 (pair-score cache off, so it
   really scores) vs the same int8 ONNX export run by onnxruntime directly: `tokenizers`
   `encode_batch` of the 100 pairs and one `session.run` per pair (the stage's batch size, 1).
   The stage runs a query's pairs side by side, one per thread, on a one-thread session
   (harness/models/onnx_backend.py); the direct loop is the plain one a user would write.

Stages are built as the runner builds them (`load_plan` of a small spec, `STAGES.get(type)`,
`prepare`). The two sides run in separate processes, because how threads wait is fixed when a
process starts OpenMP: the harness side as `harness run` runs (its thread waits,
`quiet_thread_waits`, and one thread count for torch, FAISS, BLAS and onnxruntime,
`use_threads`: all cores unless `--threads`), the direct side with the libraries' own defaults,
as a user calling them would. Document embeddings come from the artefact cache
(HARNESS_CACHE_DIR, default ~/.cache/harness) and are computed once when absent (minutes on
2 cores; `--docs N` indexes only the first N documents). Each process gets warm-up calls; the
sides alternate process by process over `--rounds` rounds (the side going first flipping every
round), so drift from other jobs falls on both alike, and every call of every round is pooled.
Whole-call and step p50s are reported for both sides. Target: harness / direct <= 1.2 for
every stage. Prints one JSON line; exit code 1 when a ratio exceeds it.

    python benchmarks/latency_sanity.py [--queries 50] [--rounds 3] [--rerank-queries 3] [--docs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TARGET = 1.2
WARMUP = 3
Steps = dict[str, float]
"""One call's seconds: "call" (the whole call) and each step timed apart."""
Side = Callable[[int], Steps]
"""Time the call for query number i."""
SPEC = """name: latency-sanity
datasets: [beir/scifact/test]
measures: [nDCG@10]
latency: {mode: off}
systems:
  bm25: {type: bm25, depth: 1000}
  dense: {type: dense, model: all-MiniLM-L6-v2, index: flat, precision: fp32, depth: 1000THREADS}
  ce:
    - {type: bm25, depth: 100}
    - {type: rerank, model: ms-marco-MiniLM-L-12-v2, top: 100, cache: falseTHREADS}
"""


def build_stages(data_root: Path, docs: int | None, threads: int | None, managed: bool) -> dict[str, Any]:
    """bm25, dense and rerank stages, prepared, from a temporary spec (as the runner does; with
    `managed`, at the thread count the runner would apply)."""
    from dataclasses import replace

    from harness.data.resolve import load_dataset
    from harness.plan import load_plan
    from harness.systems import STAGES, StageContext
    from harness.threads import use_threads

    text = SPEC.replace("THREADS", f", threads: {threads}" if threads else "")
    with tempfile.TemporaryDirectory(prefix="latency-sanity-") as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(text, encoding="utf-8")
        plan = load_plan(spec)
    dataset = load_dataset(plan.datasets[0], data_root)
    if docs:
        kept = dict(list(dataset.docs.items())[:docs])
        dataset = replace(dataset, docs=kept, subset=f"{dataset.subset}, first {docs} docs", fingerprint="")
    ctx = StageContext(plan.base_dir, data_root, dataset, progress=False)
    configs = {v.name: v.stages for v in plan.systems}
    stages = {"bm25": configs["bm25"][0], "dense": configs["dense"][0], "rerank": configs["ce"][1]}
    out: dict[str, Any] = {"dataset": dataset}
    if managed:  # as run_pipeline: every runtime at one count, before prepare and after
        use_threads(threads)
    for name, cfg in stages.items():
        stage = STAGES.get(cfg.type)(cfg.params, ctx)
        stage.prepare()
        out[name] = stage
    if managed:
        use_threads(threads)
    return out


def harness_side(stage: Any, queries: Sequence[Any], previous: Sequence[Any] | None = None) -> Side:
    """The stage's `search` of query i alone, reset and timed as the runner's pipeline does it."""

    def call(i: int) -> Steps:
        stage.replayed_s, stage.parts = 0.0, {}
        t0 = time.perf_counter()
        stage.search([queries[i]], previous[i] if previous is not None else None)
        took = time.perf_counter() - t0 + stage.replayed_s
        return {"call": took, **{name: wall for name, (wall, _cpu) in stage.parts.items()}}

    return call


def dense_direct(stage: Any, texts: Sequence[str]) -> Side:
    """sentence-transformers on the stage's model folder, and a flat FAISS index of its vectors."""
    import faiss
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(stage.resolved.path), device="cpu")
    model.max_seq_length = stage.encoder.st.max_seq_length
    prefix = stage.resolved.spec.query_prefix or ""
    index = faiss.IndexFlatIP(stage.index.d)
    index.add(stage.index.reconstruct_n(0, stage.index.ntotal))
    k = min(stage.params.depth, index.ntotal)

    def call(i: int) -> Steps:
        t0 = time.perf_counter()
        vec = model.encode([prefix + texts[i]], normalize_embeddings=True, show_progress_bar=False)[0]
        t1 = time.perf_counter()
        index.search(vec[None], k)
        t2 = time.perf_counter()
        return {"call": t2 - t0, "encode": t1 - t0, "search": t2 - t1}

    return call


def bm25_direct(stage: Any, texts: Sequence[str]) -> Side:
    """bm25s's own calls, on the tokenizer and the index the stage built."""
    tokenizer, retriever, k = stage.tokenizer, stage.retriever, stage.k

    def call(i: int) -> Steps:
        t0 = time.perf_counter()
        ids = tokenizer.tokenize(
            [texts[i]], update_vocab=False, return_as="ids", show_progress=False, allow_empty=False
        )
        t1 = time.perf_counter()
        retriever.retrieve(ids, k=k, show_progress=False)
        t2 = time.perf_counter()
        return {"call": t2 - t0, "encode": t1 - t0, "search": t2 - t1}

    return call


def rerank_direct(stage: Any, pairs: Sequence[list[tuple[str, str]]]) -> Side:
    """The stage's ONNX export through onnxruntime and `tokenizers`, one pair per session.run."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    folder = stage.encoder.model.path
    options = ort.SessionOptions()  # onnxruntime's defaults (all physical cores, its own spinning)
    options.intra_op_num_threads = stage.params.threads or 0
    session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=stage.params.max_length, strategy="longest_first")

    def call(i: int) -> Steps:
        t0 = time.perf_counter()
        encodings = tokenizer.encode_batch(pairs[i])
        t1 = time.perf_counter()
        for e in encodings:
            feed = {"input_ids": [e.ids], "attention_mask": [e.attention_mask], "token_type_ids": [e.type_ids]}
            session.run(None, {n: np.asarray(v, dtype=np.int64) for n, v in feed.items() if n in names})
        t2 = time.perf_counter()
        return {"call": t2 - t0, "tokenise": t1 - t0, "model": t2 - t1}

    return call


def time_calls(fn: Side, n: int, warmup: int = WARMUP) -> list[Steps]:
    """Every call of queries 0..n-1 through `fn`, after `warmup` untimed ones."""
    for i in range(min(warmup, n)):
        fn(i)
    return [fn(i) for i in range(n)]


def p50_ms(samples: list[Steps]) -> dict[str, float]:
    names = dict.fromkeys(name for s in samples for name in s)
    return {name: round(statistics.median(s.get(name, 0.0) for s in samples) * 1000, 4) for name in names}


def steps(timed: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Both sides' p50 ms of every step, and harness/direct per step they share."""
    h, d = timed["harness"], timed["direct"]
    ratios = {name: round(h[name] / d[name], 3) for name in h if name in d and d[name] > 0}
    return {"harness_ms": h, "direct_ms": d, "ratios": ratios}


def verdict(timed: dict[str, dict[str, float]], step: str) -> dict[str, Any]:
    h, d = timed["harness"][step], timed["direct"][step]
    return {"step": step, "harness_ms": h, "direct_ms": d, "ratio": round(h / d, 3) if d > 0 else float("inf")}


def rerank_inputs(bm25: Any, dataset: Any, queries: Sequence[Any], top: int) -> tuple[list[Any], list[Any]]:
    """Each query's BM25 top `top` as a materialised one-query Run, and its (query, doc text) pairs."""
    from harness.records import Run

    runs, pairs = [], []
    for q in queries:
        head = list(bm25.search([q], None).get(q.query_id, ()))[:top]
        runs.append(Run({q.query_id: head}))
        pairs.append([(q.text, dataset.docs[d.doc_id].default_text()) for d in head])
    return runs, pairs


def run_side(args: argparse.Namespace, side: str) -> dict[str, Any]:
    """One process's calls: the harness stages, or the same library calls made directly."""
    harness = side == "harness"
    if harness:
        from harness.threads import quiet_thread_waits

        quiet_thread_waits()  # as `harness run` does first thing, before any OpenMP library loads
    data_root = Path(os.environ.get("HARNESS_DATA_ROOT") or REPO.parent / "shared" / "data")
    st = build_stages(data_root, args.docs, args.threads, managed=harness)
    dataset, bm25, dense, rerank = st["dataset"], st["bm25"], st["dense"], st["rerank"]
    queries = list(dataset.queries.values())[: args.queries]
    texts = [q.text for q in queries]
    n_rr = min(args.rerank_queries, len(queries))
    runs, pairs = rerank_inputs(bm25, dataset, queries[:n_rr], rerank.params.top)
    if harness:
        sides = [harness_side(dense, queries), harness_side(bm25, queries), harness_side(rerank, queries, runs)]
    else:
        sides = [dense_direct(dense, texts), bm25_direct(bm25, texts), rerank_direct(rerank, pairs)]
    from harness.threads import thread_counts

    return {
        "dense": time_calls(sides[0], len(queries)),
        "bm25": time_calls(sides[1], len(queries)),
        "rerank": time_calls(sides[2], n_rr, warmup=1),
        "info": {
            "docs": len(dataset.docs),
            "queries": len(queries),
            "rerank_queries": n_rr,
            "pairs_per_rerank": sum(len(p) for p in pairs) / max(1, n_rr),
        },
        "threads": thread_counts(),
        "precision": {"dense": dense.resolved.spec.precision, "rerank": rerank.precision},
    }


def child(args: argparse.Namespace, side: str) -> dict[str, Any]:
    """Run `side` in a fresh process (its own thread settings) and read back its calls."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_WAIT_POLICY")}
    cmd = [sys.executable, __file__, "--side", side, *sys.argv[1:]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"the {side} side failed (exit {proc.returncode})")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=50, help="first N SciFact test queries")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of one harness and one direct process")
    ap.add_argument("--rerank-queries", type=int, default=3, help="queries re-ranked (100 pairs each)")
    ap.add_argument("--docs", type=int, default=None, help="index only the first N documents")
    ap.add_argument("--threads", type=int, default=None, help="threads for dense and rerank (default: all cores)")
    ap.add_argument("--side", choices=("harness", "direct"), default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        print(json.dumps(run_side(args, args.side)), flush=True)
        return 0
    t_start = time.perf_counter()
    pooled: dict[str, dict[str, list[Steps]]] = {"harness": {}, "direct": {}}
    seen: dict[str, dict[str, Any]] = {}
    for r in range(args.rounds):
        for side in ("harness", "direct") if r % 2 == 0 else ("direct", "harness"):
            got = child(args, side)
            for stage in ("dense", "bm25", "rerank"):
                pooled[side].setdefault(stage, []).extend(got[stage])
            seen[side] = {"threads": got["threads"], "precision": got["precision"], **got["info"]}
    timed = {stage: {side: p50_ms(pooled[side][stage]) for side in pooled} for stage in ("dense", "bm25", "rerank")}
    stages = {
        "dense_encode": verdict(timed["dense"], "encode"),
        "faiss_search": verdict(timed["dense"], "search"),
        "bm25": verdict(timed["bm25"], "call"),
        "rerank": verdict(timed["rerank"], "call"),
    }
    ratios = {name: s["ratio"] for name, s in stages.items()}
    ok = all(r <= TARGET for r in ratios.values())
    info = seen["harness"]
    result = {
        "benchmark": "latency_sanity",
        "docs": int(info["docs"]),
        "queries": int(info["queries"]),
        "rerank_queries": int(info["rerank_queries"]),
        "pairs_per_rerank": info["pairs_per_rerank"],
        "rounds": args.rounds,
        "precision": info["precision"],
        "threads": {side: seen[side]["threads"] for side in seen},
        "stages": stages,
        "steps": {stage: steps(timed[stage]) for stage in timed},
        "ratios": ratios,
        "target": TARGET,
        "ok": ok,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(result, separators=(",", ":")), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
