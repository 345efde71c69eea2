"""Dense retrieval: a bi-encoder embeds documents and queries; FAISS finds the nearest.

Index types (inner product throughout; normalised models make it cosine):

- `flat`: exact search (IndexFlatIP);
- `hnsw`: graph search, built with `M` and `efConstruction`, searched with `efSearch`;
- `ivf`: inverted lists over `nlist` k-means cells, searched in `nprobe` of them;
- `ivfpq`: IVF with product quantisation, `m` sub-quantisers of `nbits` bits;
- `sq`: scalar quantisation of each dimension (`qtype`), exhaustive search.

Index parameters are top-level stage parameters, so a list sweeps them (`efSearch: [16, 64,
256]`); `index: {type: hnsw, M: 32}` is accepted too and is the same thing. Search-time
parameters (`efSearch`, `nprobe`) are not part of the index's cache key, so a sweep over them
builds the index once. Document embeddings are cached by model-file hash, backend, precision,
corpus content, text fields, prefix and max length; indexes by the embeddings and the build
parameters. Cache entries are .npy bytes and `faiss.serialize_index` bytes (no pickle).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

from pydantic import Field, model_validator

from harness.cache import ArtefactStore, make_key
from harness.errors import SystemConfigError
from harness.models.encoders import load_bi_encoder
from harness.models.encoding import BiEncoder, EncodeOptions
from harness.models.locate import ResolvedModel, resolve_model
from harness.models.precision import (
    PRECISION_HELP,
    Precision,
    at_precision,
    check_alias_precision,
    default_batch_size,
    precision_tag,
)
from harness.records import Query, Run, ScoredDoc
from harness.systems import STAGES, Stage, StageContext, StageParams
from harness.systems._faiss_build import build_index, train_key
from harness.systems._indexing import (
    chunking,
    corpus_fingerprint,
    corpus_ids,
    encoding_costs,
)
from harness.systems._sharded_flat import FILE as EMBEDDINGS
from harness.systems._sharded_flat import ShardedFlat, write_header
from harness.systems._shards import EncoderParams, ShardedEncoding, Tally, discard_shards, encoded_parts, shard_costs
from harness.systems._trained_model import (
    ModelRecipe,
    ModelRef,
    base_reference,
    recipe_fingerprint,
    resolve_trained,
    training_costs,
)
from harness.threads import applied_threads

IndexType = Literal["flat", "hnsw", "ivf", "ivfpq", "sq"]
INDEX_KEYS = ("M", "efConstruction", "efSearch", "nlist", "nprobe", "m", "nbits", "qtype")
FORMAT = 2
"""Bump when the meaning of cached embeddings or indexes changes (2: embeddings are a folder
entry holding one `.npy` file, read memory-mapped)."""


class DenseParams(EncoderParams):
    model: ModelRef = Field(
        description="alias, local folder or Hugging Face id; or {base: MODEL, train: {...}}, a model fine-tuned first"
    )
    index: IndexType = Field(default="flat", description="flat | hnsw | ivf | ivfpq | sq")
    M: int = Field(default=32, ge=2, description="hnsw: neighbours per node")
    efConstruction: int = Field(default=200, gt=0, description="hnsw: build-time beam")
    efSearch: int = Field(default=64, gt=0, description="hnsw: search-time beam")
    nlist: int | None = Field(default=None, gt=0, description="ivf/ivfpq: cells (default about sqrt(docs))")
    nprobe: int = Field(default=8, gt=0, description="ivf/ivfpq: cells searched")
    m: int = Field(default=16, gt=0, description="ivfpq: sub-quantisers (must divide the dimension)")
    nbits: int = Field(default=8, gt=0, le=16, description="ivfpq: bits per sub-quantiser code")
    qtype: Literal["8bit", "6bit", "4bit", "fp16", "bf16"] = Field(default="8bit", description="sq: code type")
    precision: Precision | None = Field(default=None, description=PRECISION_HELP)
    batch_size: int | None = Field(
        default=None, gt=0, description="texts per encoder call (default 32; 1 for the harness's own int8 exports)"
    )
    threads: int | None = Field(default=None, gt=0, description="torch / onnxruntime / FAISS threads")
    max_length: int | None = Field(default=None, gt=0, description="tokens per text (default: the model's)")
    pooling: Literal["mean", "cls", "max"] | None = Field(
        default=None, description="override the model's pooling (onnx backend; folders without an alias)"
    )
    normalize: bool | None = Field(default=None, description="override the model's L2 normalisation")
    query_prefix: str | None = Field(default=None, description="override the model's query prefix")
    doc_prefix: str | None = Field(default=None, description="override the model's document prefix")
    memory_limit_mb: float | None = Field(
        default=None,
        gt=0,
        description="flat: search the embeddings on disk, this many MB of them resident at a time",
    )

    def thread_count(self) -> int | None:
        return self.threads

    @model_validator(mode="after")
    def _precision_available(self) -> DenseParams:
        check_alias_precision(base_reference(self.model), self.precision)
        if self.memory_limit_mb is not None and self.index != "flat":
            raise ValueError("memory_limit_mb bounds exact search: it needs index: flat")
        return self

    @model_validator(mode="before")
    @classmethod
    def _flatten_index(cls, data: Any) -> Any:
        """`index: {type: hnsw, M: 32}` means `index: hnsw, M: 32`."""
        if isinstance(data, Mapping) and isinstance(data.get("index"), Mapping):
            nested = dict(data["index"])
            out = {k: v for k, v in data.items() if k != "index"}
            if "type" in nested:
                out["index"] = nested.pop("type")
            unknown = [k for k in nested if k not in INDEX_KEYS]
            if unknown:
                raise ValueError(f"unknown index key '{unknown[0]}'; valid: type, {', '.join(INDEX_KEYS)}")
            clash = [k for k in nested if k in out]
            if clash:
                raise ValueError(f"'{clash[0]}' is given both inside and outside 'index'")
            out.update(nested)
            return out
        return data

    def build_params(self, n_docs: int) -> dict[str, Any]:
        """Parameters that shape the index (its cache key); search-time ones are left out."""
        if self.index == "hnsw":
            return {"M": self.M, "efConstruction": self.efConstruction}
        if self.index == "ivf":
            return {"nlist": self.effective_nlist(n_docs)}
        if self.index == "ivfpq":
            return {"nlist": self.effective_nlist(n_docs), "m": self.m, "nbits": self.nbits}
        if self.index == "sq":
            return {"qtype": self.qtype}
        return {}

    def effective_nlist(self, n_docs: int) -> int:
        if self.nlist is not None:
            return self.nlist
        return max(1, min(math.isqrt(n_docs), n_docs // 39 or 1))

    def effective_batch_size(self, resolved: ResolvedModel) -> int:
        return self.batch_size or default_batch_size(resolved)

    def encode_options(self, progress: bool, resolved: ResolvedModel) -> EncodeOptions:
        return EncodeOptions(
            batch_size=self.effective_batch_size(resolved),
            threads=self.threads,
            max_length=self.max_length,
            progress=progress,
            query_prefix=self.query_prefix,
            doc_prefix=self.doc_prefix,
            precision=resolved.spec.precision,
        )


def embeddings_key(resolved: ResolvedModel, params: DenseParams, corpus: str, chunks: Mapping[str, int]) -> str:
    spec = resolved.spec
    return make_key(
        what="dense-doc-embeddings",
        format=FORMAT,
        model_files=resolved.files_hash,
        backend=spec.backend,
        precision=precision_tag(resolved),
        pooling=spec.pooling,
        normalize=spec.normalize,
        doc_prefix=params.doc_prefix if params.doc_prefix is not None else spec.doc_prefix,
        max_length=params.max_length or spec.max_length,
        corpus=corpus,
        fields=list(params.fields),
        **chunks,
    )


@STAGES.register("dense")
class Dense(Stage, ShardedEncoding[Any]):
    Params = DenseParams
    params: DenseParams
    uses_cache: ClassVar[bool] = True
    """Writes to the artefact cache: a run proves the cache writable before any work."""
    encoding_kind: ClassVar[str] = "embeddings"
    _model: ResolvedModel | None = None
    training: dict[str, Any] | None = None
    training_cached: bool = False
    _key: str | None = None
    _encoder: BiEncoder | None = None

    def _resolved(self) -> ResolvedModel:
        if self._model is None:
            self._model = self._resolve()
        return self._model

    def _resolve(self) -> ResolvedModel:
        model = self.params.model
        if isinstance(model, ModelRecipe):
            resolved, self.training, self.training_cached = resolve_trained(model, self.ctx, self.params.threads)
        else:
            resolved = resolve_model(model, kind="bi-encoder", base_dir=self.ctx.base_dir)
        overrides: dict[str, Any] = {}
        if self.params.pooling is not None:
            overrides["pooling"] = self.params.pooling
        if self.params.normalize is not None:
            overrides["normalize"] = self.params.normalize
        resolved = replace(resolved, spec=replace(resolved.spec, **overrides)) if overrides else resolved
        return at_precision(resolved, self.params.precision)

    @classmethod
    def input_fingerprint(cls, params: StageParams, ctx: StageContext) -> str:
        # pooling/normalize overrides change no model file, so the plain resolution keys it; the
        # precision that runs depends on the CPU when none is given, so it is part of the key
        p = cast(DenseParams, params)
        base = resolve_model(base_reference(p.model), kind="bi-encoder", base_dir=ctx.base_dir)
        resolved = at_precision(base, p.precision)
        files = recipe_fingerprint(p.model, ctx) if isinstance(p.model, ModelRecipe) else resolved.files_hash
        return f"{files}:{precision_tag(resolved)}"

    def prepare(self) -> None:
        import faiss
        import numpy as np

        p = self.params
        threads = p.threads or applied_threads()
        if threads:  # FAISS may be imported only now, after the pipeline set the threads
            faiss.omp_set_num_threads(threads)
        self.doc_ids = corpus_ids(self.ctx.dataset, "dense retrieval")
        n_docs = len(self.doc_ids)
        resolved = self._resolved()
        self.resolved = resolved
        self.encoder = self._bi_encoder()
        emb_key = self.encoding_key()
        folder, emb_meta, emb_cached = ArtefactStore().folder_or_build(self.encoding_kind, emb_key, self._encode_into)
        discard_shards(self)
        path = folder / EMBEDDINGS
        emb = np.load(path, mmap_mode="r")  # read in place: a FAISS index copies what it needs
        if emb.shape[0] != n_docs:
            raise SystemConfigError(f"cached embeddings hold {emb.shape[0]} rows for {n_docs} documents")
        dim = int(emb.shape[1])
        if p.memory_limit_mb is not None:
            del emb
            t0 = time.perf_counter()
            self.index: Any = ShardedFlat(path, p.memory_limit_mb)
            index_s, index_bytes, index_cached = time.perf_counter() - t0, 0, True
        else:
            index_s, index_bytes, index_cached = self._faiss_index(emb, emb_key)
        encoding = encoding_costs(
            resolved.ref,
            resolved,
            self.encoder,
            emb_meta,
            batch_size=p.effective_batch_size(resolved),
            threads=p.threads,
        )
        encode_s = encoding["encode_s"]
        self.costs = {
            **encoding,
            "dim": dim,
            "docs": n_docs,
            "docs_per_s": n_docs / encode_s if encode_s > 0 else None,
            "index": p.index if p.memory_limit_mb is None else f"flat, on disk ({p.memory_limit_mb:g} MB at a time)",
            "index_build_s": index_s,
            "build_s": encode_s + index_s,
            "embedding_bytes": path.stat().st_size,
            "index_bytes": index_bytes,
            "cached": bool(emb_cached and index_cached),
            "embeddings_cached": emb_cached,
            **shard_costs(emb_meta),
            **training_costs(self.training, self.training_cached),
        }

    # The corpus in shards (`ShardedEncoding`): what a Ray worker calls without `prepare`.
    def encoding_key(self) -> str:
        if self._key is None:
            dataset = self.ctx.dataset
            chunks = chunking(dataset, self.params.encode_chunk)
            self._key = embeddings_key(self._resolved(), self.params, corpus_fingerprint(dataset), chunks)
        return self._key

    def _bi_encoder(self) -> BiEncoder:
        if self._encoder is None:
            resolved = self._resolved()
            self._encoder = load_bi_encoder(resolved, self.params.encode_options(self.progress, resolved))
        return self._encoder

    def encode_texts(self, texts: list[str]) -> Any:
        return self._bi_encoder().encode_docs(texts)

    def tokens_encoded(self) -> int:
        return self._encoder.tokens if self._encoder is not None else 0

    def shard_to_bytes(self, part: Any) -> bytes:
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(part, dtype="<f4"), allow_pickle=False)
        return buffer.getvalue()

    def shard_from_bytes(self, data: bytes) -> Any:
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)

    def _encode_into(self, folder: Path) -> dict[str, Any]:
        """Encode the corpus into `folder`'s `.npy` file shard by shard (never the whole array in
        memory; shards Ray workers stored are read, not encoded); what it cost."""
        n_docs = len(self.doc_ids)
        tally = Tally()
        dim = 0
        with (folder / EMBEDDINGS).open("wb") as out:
            for part in encoded_parts(self, tally, self.progress):
                if not dim:
                    dim = int(part.shape[1])
                    write_header(out, n_docs, dim)
                out.write(part.astype("<f4", copy=False).tobytes())
        return {
            "seconds": tally.seconds,
            "tokens": tally.tokens,
            "docs": n_docs,
            "dim": dim,
            "shards": tally.shards,
            "shards_from_workers": tally.from_workers,
            "batch_size": self.params.effective_batch_size(self.resolved),
            "model": self.resolved.describe(),
            "dataset": self.ctx.dataset.name,
        }

    def _faiss_index(self, emb: Any, emb_key: str) -> tuple[float, int, bool]:
        """The FAISS index over `emb` (flat: built now; the others: from the cache), as
        `self.index`; (its build seconds, bytes, whether it was cached)."""
        import faiss
        import numpy as np

        p = self.params
        build = p.build_params(len(self.doc_ids))
        if p.index == "flat":
            t0 = time.perf_counter()
            self.index = build_index(p, emb)
            return time.perf_counter() - t0, int(emb.nbytes), True
        index_key = make_key(
            what="faiss-index",
            format=FORMAT,
            embeddings=emb_key,
            type=p.index,
            **build,
            **train_key(p, len(self.doc_ids)),
        )

        def make_index() -> tuple[bytes, dict[str, Any]]:
            t0 = time.perf_counter()
            index = build_index(p, emb)
            seconds = time.perf_counter() - t0
            blob = faiss.serialize_index(index)
            return np.asarray(blob, dtype=np.uint8).tobytes(), {"seconds": seconds, "type": p.index, **build}

        blob, index_meta, index_cached = ArtefactStore().get_or_compute("faiss-index", index_key, make_index)
        self.index = faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8).copy())
        return float(index_meta.get("seconds", 0.0)), len(blob), index_cached

    def _search_params(self) -> Any:
        import faiss as faiss_typed

        faiss: Any = faiss_typed  # the bundled stubs lack the SearchParameters* keywords

        if self.params.index == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=self.params.efSearch)
        if self.params.index in ("ivf", "ivfpq"):
            return faiss.SearchParametersIVF(nprobe=self.params.nprobe)
        return None

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        import numpy as np

        if not queries:
            return Run({})
        with self.part("encode"):
            q = np.ascontiguousarray(self.encoder.encode_queries([x.text for x in queries]), dtype=np.float32)
        k = min(self.params.depth, len(self.doc_ids))
        sp = self._search_params()
        with self.part("search"):
            scores, idx = self.index.search(q, k, params=sp) if sp is not None else self.index.search(q, k)
        # FAISS's arrays are the answer; records are built when the run is read (Run.deferred).
        return Run.deferred({x.query_id: partial(self._hits, idx[i], scores[i]) for i, x in enumerate(queries)})

    def _hits(self, idx: Any, scores: Any) -> list[ScoredDoc]:
        keep = idx >= 0  # FAISS pads with -1 when fewer than k documents are reachable
        return list(map(ScoredDoc, map(self.doc_ids.__getitem__, idx[keep].tolist()), scores[keep].tolist()))
