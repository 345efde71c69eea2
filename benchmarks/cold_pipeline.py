"""Cold end to end: the BEIR framework's recipe vs `harness run`, same SciFact work, one script run.

The pipeline: BM25, MiniLM exact dense search, RRF of the two, and BM25's top 100 re-ranked by
the cross-encoder. Each side runs in a fresh subprocess (cold: nothing loaded, no cache) and is
timed in wall and CPU time (user + sys of the child).

- **The cross-encoder, both sides.** The only cross-encoder that installs offline is the int8
  ONNX export of ms-marco-MiniLM-L-12-v2. `_fp32_cross_encoder.py` turns its int8 weights
  (times their scales) back into an fp32 PyTorch folder before either clock starts; both sides
  load that folder. It is not the original fp32 model, but it is one fp32 model that both the
  BEIR recipe and the harness can run.
- **BEIR side**, as the BEIR README writes it: `GenericDataLoader`, `EvaluateRetrieval` with
  `DenseRetrievalExactSearch(models.SentenceBERT(...), batch_size=32)` (sentence-transformers,
  fp32, cosine), `Rerank(CrossEncoder(folder), batch_size=128).rerank(..., top_k=100)`
  (sentence-transformers, fp32, 512 tokens) and `evaluate`. One more substitution, because this
  machine is offline: BEIR's BM25 needs an Elasticsearch server, so BM25 is bm25s called
  directly with the harness's tokeniser and parameters (Lucene BM25, k1 0.9, b 0.4, English
  Snowball stemming, bm25s's English stopwords). RRF (k = 60) is written out, as BEIR has none.
  The corpus is un-gzipped for BEIR's loader before the clock starts.
- **harness side**: `harness run` of the same systems (spec below) with `latency: {mode: off}`,
  because the BEIR recipe measures no per-query latency, in an empty artefact cache. MiniLM
  runs at the harness's default precision (bf16 here), the cross-encoder at `precision: int8`
  (the harness's own export of the fp32 folder, made inside the timed run).

Acceptance: harness wall time <= 0.5 x BEIR's; nDCG@10 of each system within 0.002 of the
other side's. Prints one JSON line with both sides and the ratios.

    python benchmarks/cold_pipeline.py [--queries 300]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _timed import timed

REPO = Path(__file__).resolve().parent.parent
RATIO_MAX = 0.5
TOLERANCE = 0.002
SYSTEMS = ("bm25", "minilm", "rrf", "bm25-ce")
SPEC = """name: cold-pipeline
datasets: [{{id: beir/scifact/test, name: scifact, queries: {{first: {n}}}}}]
measures: [nDCG@10]
systems:
  bm25: {{type: bm25, depth: 1000}}
  minilm: {{type: dense, model: all-MiniLM-L6-v2, index: flat, depth: 1000}}
  rrf: {{type: fuse, method: rrf, k: 60, inputs: [bm25, minilm], depth: 1000}}
  bm25-ce: [{{type: use, system: bm25, depth: 100}}, {{type: rerank, top: 100, model: "{ce}", precision: int8}}]
latency: {{mode: off}}
"""


def beir_folder(data_root: Path, qids: list[str], folder: Path) -> None:
    """SciFact as BEIR's GenericDataLoader reads it, judged for `qids` only."""
    src = data_root / "beir" / "scifact"
    with gzip.open(src / "corpus.jsonl.gz", "rb") as f, (folder / "corpus.jsonl").open("wb") as out:
        shutil.copyfileobj(f, out)
    shutil.copy(src / "queries.jsonl", folder / "queries.jsonl")
    keep = set(qids)
    (folder / "qrels").mkdir()
    lines = (src / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    rows = [ln for ln in lines[1:] if ln.split("\t")[0] in keep]
    (folder / "qrels" / "test.tsv").write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")


def fp32_cross_encoder(folder: Path) -> Path:
    """The fp32 folder made from the shipped int8 model, in a subprocess: neither side's process
    has imported anything when its clock starts."""
    maker = Path(__file__).with_name("_fp32_cross_encoder.py")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(maker), str(folder)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{maker.name} failed:\n{proc.stderr[-2000:]}")
    return folder


def first_qids(data_root: Path, n: int) -> list[str]:
    """The judged queries `queries: {first: n}` keeps, as the harness orders them."""
    from harness.data.ref import DatasetRef
    from harness.data.resolve import load_dataset

    return list(load_dataset(DatasetRef(id="beir/scifact", split="test"), data_root).queries)[:n]


def harness_side(n: int, data_root: Path, tmp: Path, cross_encoder: Path) -> dict[str, Any]:
    spec = tmp / "cold.yaml"
    spec.write_text(SPEC.format(n=n, ce=cross_encoder), encoding="utf-8")
    (tmp / "cache").mkdir()
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp / "cache"), "HARNESS_DATA_ROOT": str(data_root)}
    env["HF_HUB_OFFLINE"] = "1"
    out = tmp / "harness-out"
    wall, cpu, _ = timed([sys.executable, "-m", "harness", "run", str(spec), "-o", str(out), "-q"], env)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    ndcg = {c["system"]: float(c["aggregate"]["nDCG@10"]) for c in results["cells"]}
    judged = {c["system"]: int(c["judged"]) for c in results["cells"]}
    return {"wall_s": wall, "cpu_s": cpu, "ndcg@10": ndcg, "judged": judged}


def beir_side(folder: Path, data_root: Path, cross_encoder: Path) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HARNESS_DATA_ROOT": str(data_root)}
    peer = Path(__file__).with_name("_beir_recipe.py")
    wall, cpu, stdout = timed([sys.executable, str(peer), str(folder), str(cross_encoder)], env)
    found = json.loads(stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "cpu_s": cpu, "ndcg@10": found["ndcg@10"], "judged": found["queries"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=300, help="first N judged SciFact test queries (all: 300)")
    args = ap.parse_args()
    data_root = Path(os.environ.get("HARNESS_DATA_ROOT", REPO.parent / "shared" / "data"))
    qids = first_qids(data_root, args.queries)
    with tempfile.TemporaryDirectory(prefix="cold-pipeline-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "beir").mkdir()
        beir_folder(data_root, qids, tmp / "beir")
        cross_encoder = fp32_cross_encoder(tmp / "ce-fp32")
        beir = beir_side(tmp / "beir", data_root, cross_encoder)
        harness = harness_side(len(qids), data_root, tmp, cross_encoder)
    delta = {s: round(harness["ndcg@10"][s] - beir["ndcg@10"][s], 4) for s in SYSTEMS}
    out = {
        "benchmark": "cold_pipeline",
        "queries": len(qids),
        "beir": {k: _rounded(v) for k, v in beir.items()},
        "harness": {k: _rounded(v) for k, v in harness.items()},
        "ratio_wall": round(harness["wall_s"] / beir["wall_s"], 3),
        "ratio_cpu": round(harness["cpu_s"] / beir["cpu_s"], 3),
        "ratio_target": RATIO_MAX,
        "ratio_ok": harness["wall_s"] / beir["wall_s"] <= RATIO_MAX,
        "ndcg_delta": delta,
        "ndcg_ok": all(abs(d) <= TOLERANCE for d in delta.values()),
    }
    print(json.dumps(out))


def _rounded(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return v


if __name__ == "__main__":
    main()
