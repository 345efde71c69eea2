"""Encoder throughput and effectiveness per precision, against sentence-transformers fp32.

1. Throughput: the same SciFact documents (the first N of the corpus, title + text, 256 tokens
   as the model's own limit) encoded by sentence-transformers itself (`SentenceTransformer.encode`,
   fp32, batch 32: what a user would write) and by the harness's bi-encoder at bf16 and at int8
   (`harness.models.encoders.load_bi_encoder` with the dense stage's default batch size: what
   `type: dense` runs; 32, and 1 for the int8 export). Each side gets a warm-up
   call first; the faster of `--repeats` passes counts. Acceptance: harness best >= 1.8x ST fp32.
2. Effectiveness: `harness run` of MiniLM exact search over full SciFact test with
   `precision: [fp32, bf16, int8]`, in its own cache (cold unless --cache is given). Acceptance:
   |nDCG@10 - fp32's| <= 0.002 for each precision, fp32 itself near 0.6451 (MTEB's value).

Prints one JSON line with both sides and the ratios.

    python benchmarks/encoders.py [--docs 1000] [--repeats 1] [--skip-ndcg] [--cache DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RATIO_MIN = 1.8
NDCG_TOLERANCE = 0.002
MTEB_FP32 = 0.6451
SPEC = """name: encoders-bench
datasets: [beir/scifact/test]
measures: [nDCG@10, R@100]
systems:
  minilm: {type: dense, model: all-MiniLM-L6-v2, index: flat, precision: [fp32, bf16, int8]}
latency: {mode: off}
"""


def scifact_docs(data_root: Path, n: int) -> list[str]:
    texts: list[str] = []
    with gzip.open(data_root / "beir" / "scifact" / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            texts.append(" ".join(p for p in (doc.get("title", ""), doc.get("text", "")) if p).strip())
            if len(texts) >= n:
                break
    return texts


def best_rate(encode: Callable[[list[str]], Any], texts: list[str], repeats: int) -> float:
    """Documents per second of the fastest of `repeats` passes (the caller has warmed up)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        encode(texts)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def sentence_transformers_fp32(texts: list[str], repeats: int) -> float:
    from sentence_transformers import SentenceTransformer

    from harness.models.locate import resolve_model

    model = SentenceTransformer(str(resolve_model("all-MiniLM-L6-v2").path), device="cpu")

    def encode(batch: list[str]) -> Any:
        return model.encode(batch, batch_size=32, normalize_embeddings=True, show_progress_bar=False)

    encode(texts[:32])  # warm-up: weights paged in, kernels chosen
    return best_rate(encode, texts, repeats)


def harness_rate(texts: list[str], precision: str, repeats: int) -> dict[str, Any]:
    from harness.models.encoders import load_bi_encoder
    from harness.models.encoding import EncodeOptions
    from harness.models.locate import resolve_model
    from harness.models.precision import at_precision, default_batch_size
    from harness.models.throughput import default_threads, gemm_peak_gflops, throughput_costs

    resolved = at_precision(resolve_model("all-MiniLM-L6-v2", kind="bi-encoder"), precision)  # type: ignore[arg-type]
    batch = default_batch_size(resolved)
    enc = load_bi_encoder(resolved, EncodeOptions(batch_size=batch, precision=resolved.spec.precision))
    enc.encode_docs(texts[:32])  # warm-up, as for the peer
    before = enc.tokens
    rate = best_rate(enc.encode_docs, texts, repeats)
    per_pass = (enc.tokens - before) // repeats
    costs = throughput_costs(
        tokens=per_pass,
        seconds=len(texts) / rate,
        linear_params=enc.linear_params,
        precision=resolved.spec.precision,
        batch_size=batch,
        threads=default_threads(),
        peak_gflops=gemm_peak_gflops(resolved.spec.precision),
    )
    return {**costs, "docs_per_s": rate}


def ndcg_per_precision(data_root: Path, cache: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="encoders-bench-") as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(SPEC, encoding="utf-8")
        out = Path(tmp) / "out"
        env = {**os.environ, "HARNESS_CACHE_DIR": str(cache), "HARNESS_DATA_ROOT": str(data_root)}
        env["HF_HUB_OFFLINE"] = "1"
        cmd = [sys.executable, "-m", "harness", "run", str(spec), "-o", str(out), "-q"]
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"harness run failed with exit code {proc.returncode}")
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {c["system"].split("=")[-1]: float(c["aggregate"]["nDCG@10"]) for c in results["cells"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip-ndcg", action="store_true", help="throughput only (the nDCG runs take minutes)")
    ap.add_argument("--cache", type=Path, default=None, help="artefact cache for the nDCG runs (default: fresh)")
    args = ap.parse_args()
    data_root = Path(os.environ.get("HARNESS_DATA_ROOT", REPO.parent / "shared" / "data"))
    texts = scifact_docs(data_root, args.docs)
    st = sentence_transformers_fp32(texts, args.repeats)
    sides = {p: harness_rate(texts, p, args.repeats) for p in ("bf16", "int8", "fp32")}
    best = max(sides, key=lambda p: sides[p]["docs_per_s"])
    out: dict[str, Any] = {
        "benchmark": "encoders",
        "docs": len(texts),
        "st_fp32_docs_per_s": round(st, 2),
        "harness": {p: {k: _round(v) for k, v in side.items()} for p, side in sides.items()},
        "ratio": {p: round(side["docs_per_s"] / st, 3) for p, side in sides.items()},
        "best": best,
        "ratio_target": RATIO_MIN,
        "ratio_ok": sides[best]["docs_per_s"] / st >= RATIO_MIN,
    }
    if not args.skip_ndcg:
        with tempfile.TemporaryDirectory(prefix="encoders-cache-") as fresh:
            ndcg = ndcg_per_precision(data_root, args.cache or Path(fresh))
        out["ndcg@10"] = {p: round(v, 4) for p, v in ndcg.items()}
        out["ndcg_delta_vs_fp32"] = {p: round(v - ndcg["fp32"], 4) for p, v in ndcg.items()}
        out["ndcg_ok"] = all(abs(v - ndcg["fp32"]) <= NDCG_TOLERANCE for v in ndcg.values())
        out["fp32_vs_mteb"] = round(ndcg["fp32"] - MTEB_FP32, 4)
    print(json.dumps(out))


def _round(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


if __name__ == "__main__":
    main()
