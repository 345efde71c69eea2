"""Building the dense stage's FAISS indexes from embeddings that stay on disk.

The embeddings arrive memory-mapped (the cache's `.npy` entry). An IVF or IVF-PQ index is
trained on a sample of them, never on all: k-means keeps at most `TRAIN_PER_CELL` points per
cell (FAISS's own `max_points_per_centroid`), so a corpus with more rows than that is sampled
here, with a fixed seed, before FAISS would sample it; up to that many rows, all train, exactly
as before. Every index but HNSW is then filled `FILL_ROWS` rows at a time, each block's pages
released after it is added, so building holds the index and one block, not the corpus. Adding
in blocks gives the index one `add` gives (each vector is encoded on its own, ids in order);
HNSW is filled in one call because its graph depends on the order of insertion within a call.

A private module: the stage registry does not load modules whose name starts with `_`.
"""

from __future__ import annotations

import mmap
from collections.abc import Mapping
from typing import Any, Protocol

from harness.errors import SystemConfigError, first_line

SQ_TYPES = {"8bit": "QT_8bit", "4bit": "QT_4bit", "6bit": "QT_6bit", "fp16": "QT_fp16", "bf16": "QT_bf16"}
TRAIN_PER_CELL = 256
"""Training points per k-means centroid (FAISS's default `max_points_per_centroid`)."""
TRAIN_SEED = 1234
FILL_ROWS = 65_536
"""Rows added to an index per call (the encoder's default shard size)."""


class IndexParams(Protocol):
    """The dense stage's index parameters (`DenseParams`)."""

    @property
    def index(self) -> str: ...
    @property
    def M(self) -> int: ...
    @property
    def efConstruction(self) -> int: ...
    @property
    def m(self) -> int: ...
    @property
    def nbits(self) -> int: ...
    @property
    def qtype(self) -> str: ...

    def build_params(self, n_docs: int) -> dict[str, Any]: ...


def _faiss_error(params: IndexParams, build: Mapping[str, Any], exc: Exception) -> SystemConfigError:
    first = first_line(exc)
    shown = ", ".join(f"{k}={v}" for k, v in build.items()) or "defaults"
    return SystemConfigError(
        f"FAISS rejected the '{params.index}' index ({shown}): {first}",
        hint="change the index parameters (ivfpq: m must divide the embedding dimension; "
        "ivf: nlist at most the number of documents)",
    )


def training_rows(params: IndexParams, n: int) -> int | None:
    """How many rows an IVF / IVF-PQ index trains on when that is fewer than `n` (else None:
    all of them). IVF-PQ also trains its 2^nbits-centroid sub-quantisers on them."""
    if params.index not in ("ivf", "ivfpq"):
        return None
    cells = params.build_params(n)["nlist"]
    if params.index == "ivfpq":
        cells = max(cells, 2**params.nbits)
    cap = TRAIN_PER_CELL * cells
    return cap if n > cap else None


def train_key(params: IndexParams, n: int) -> dict[str, Any]:
    """The cache-key part of the training sample: empty when every row trains (as before
    samples existed), else the sample's size and seed."""
    rows = training_rows(params, n)
    return {} if rows is None else {"train_rows": rows, "train_seed": TRAIN_SEED}


def _empty(params: IndexParams, d: int, build: Mapping[str, Any], n: int) -> Any:
    import faiss

    ip = faiss.METRIC_INNER_PRODUCT
    if params.index == "flat":
        return faiss.IndexFlatIP(d)
    if params.index == "hnsw":
        index = faiss.IndexHNSWFlat(d, params.M, ip)
        index.hnsw.efConstruction = params.efConstruction
        return index
    if params.index in ("ivf", "ivfpq") and build["nlist"] > n:
        raise RuntimeError(f"nlist={build['nlist']} exceeds the {n} documents to cluster")
    if params.index == "ivf":
        return faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, build["nlist"], ip)
    if params.index == "ivfpq":
        return faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, build["nlist"], params.m, params.nbits, ip)
    return faiss.IndexScalarQuantizer(d, getattr(faiss.ScalarQuantizer, SQ_TYPES[params.qtype]), ip)


def _sample(emb: Any, rows: int | None) -> Any:
    """The training rows: all, or `rows` of them drawn with a fixed seed, in corpus order (a
    memory-mapped array reads only those)."""
    import numpy as np

    if rows is None:
        return emb
    picked = np.sort(np.random.default_rng(TRAIN_SEED).choice(emb.shape[0], size=rows, replace=False))
    return np.ascontiguousarray(emb[picked])


def _release(emb: Any) -> None:
    """Drop a memory-mapped array's pages from the process (they stay in the page cache)."""
    mapped = getattr(emb, "_mmap", None)
    if isinstance(mapped, mmap.mmap):
        mapped.madvise(mmap.MADV_DONTNEED)


def build_index(params: IndexParams, emb: Any) -> Any:
    """A trained, filled FAISS index over `emb` (float32 [N, d], in memory or memory-mapped)."""
    import numpy as np

    n, d = emb.shape
    build = params.build_params(n)
    try:
        index = _empty(params, d, build, n)
        if not index.is_trained:
            index.train(_sample(emb, training_rows(params, n)))
        block = n if params.index == "hnsw" else FILL_ROWS
        for start in range(0, n, block):
            index.add(np.ascontiguousarray(emb[start : start + block], dtype=np.float32))
            _release(emb)
    except RuntimeError as exc:
        raise _faiss_error(params, build, exc) from None
    return index
