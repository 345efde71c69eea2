"""Learned sparse retrieval (SPLADE) through `sentence_transformers.SparseEncoder`.

Documents become sparse vocabulary-sized vectors; the index is their transpose as a CSR matrix
(an inverted index: one row of postings per vocabulary term). A query's scores are one sparse
matrix product, and the top k come from a partial sort. Document vectors are cached as
scipy .npz bytes (no pickle), keyed by model-file hash, corpus content, fields and max length.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from typing import Any, ClassVar, cast

from pydantic import Field, model_validator

from harness.cache import ArtefactStore, make_key
from harness.errors import SystemConfigError
from harness.models.encoders import load_sparse_encoder
from harness.models.encoding import EncodeOptions, SparseEncoderModel
from harness.models.locate import ResolvedModel, resolve_model
from harness.models.precision import PRECISION_HELP, Precision, at_precision, check_alias_precision
from harness.records import Query, Run, ScoredDoc
from harness.systems import STAGES, Stage, StageContext, StageParams
from harness.systems._indexing import (
    chunking,
    corpus_fingerprint,
    corpus_ids,
    encoding_costs,
)
from harness.systems._shards import EncoderParams, ShardedEncoding, Tally, discard_shards, encoded_parts, shard_costs

FORMAT = 1
QUERY_BLOCK = 256
"""Queries scored together (a dense [block, docs] score matrix at a time)."""


class SpladeParams(EncoderParams):
    model: str = Field(default="splade-tiny", min_length=1, description="alias, local folder or Hugging Face id")
    precision: Precision | None = Field(default=None, description=PRECISION_HELP)
    batch_size: int = Field(default=8, gt=0, description="small: the MLM head makes [batch, tokens, vocab] logits")
    threads: int | None = Field(default=None, gt=0, description="torch threads")
    max_length: int | None = Field(default=None, gt=0, description="tokens per text (default: the model's)")

    def thread_count(self) -> int | None:
        return self.threads

    @model_validator(mode="after")
    def _precision_available(self) -> SpladeParams:
        check_alias_precision(self.model, self.precision)
        return self


def sparse_to_bytes(matrix: Any) -> bytes:
    import scipy.sparse as sp

    buf = io.BytesIO()
    sp.save_npz(buf, matrix.tocsr(), compressed=False)
    return buf.getvalue()


def bytes_to_sparse(data: bytes) -> Any:
    import scipy.sparse as sp

    return sp.load_npz(io.BytesIO(data)).tocsr()


def top_k_rows(scores: Any, k: int) -> tuple[Any, Any]:
    """Indices and values of the k largest entries of each row, best first."""
    import numpy as np

    n = scores.shape[1]
    k = min(k, n)
    if k <= 0:
        empty = np.zeros((scores.shape[0], 0))
        return empty.astype(np.int64), empty
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (scores.shape[0], 1))
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


@STAGES.register("splade")
class Splade(Stage, ShardedEncoding[Any]):
    Params = SpladeParams
    params: SpladeParams
    uses_cache: ClassVar[bool] = True
    """Writes to the artefact cache: a run proves the cache writable before any work."""
    encoding_kind: ClassVar[str] = "sparse-vectors"
    _model: ResolvedModel | None = None
    _key: str | None = None
    _encoder: SparseEncoderModel | None = None

    @staticmethod
    def _resolve(params: SpladeParams, ctx: StageContext) -> ResolvedModel:
        return at_precision(resolve_model(params.model, kind="sparse", base_dir=ctx.base_dir), params.precision)

    @classmethod
    def input_fingerprint(cls, params: StageParams, ctx: StageContext) -> str:
        resolved = cls._resolve(cast(SpladeParams, params), ctx)
        return f"{resolved.files_hash}:{resolved.spec.precision}"

    # The corpus in shards (`ShardedEncoding`): what a Ray worker calls without `prepare`.
    def _resolved(self) -> ResolvedModel:
        if self._model is None:
            self._model = self._resolve(self.params, self.ctx)
        return self._model

    def encoding_key(self) -> str:
        if self._key is None:
            p, resolved = self.params, self._resolved()
            self._key = make_key(
                what="splade-doc-vectors",
                format=FORMAT,
                model_files=resolved.files_hash,
                backend=resolved.backend,
                precision=resolved.spec.precision,
                max_length=p.max_length or resolved.spec.max_length,
                corpus=corpus_fingerprint(self.ctx.dataset),
                fields=list(p.fields),
                **chunking(self.ctx.dataset, p.encode_chunk),
            )
        return self._key

    def _sparse_encoder(self) -> SparseEncoderModel:
        if self._encoder is None:
            p, resolved = self.params, self._resolved()
            options = EncodeOptions(
                batch_size=p.batch_size,
                threads=p.threads,
                max_length=p.max_length,
                progress=self.progress,
                precision=resolved.spec.precision,
            )
            self._encoder = load_sparse_encoder(resolved, options)
        return self._encoder

    def encode_texts(self, texts: list[str]) -> Any:
        return self._sparse_encoder().encode_docs(texts)

    def tokens_encoded(self) -> int:
        return self._encoder.tokens if self._encoder is not None else 0

    def shard_to_bytes(self, part: Any) -> bytes:
        return sparse_to_bytes(part)

    def shard_from_bytes(self, data: bytes) -> Any:
        return bytes_to_sparse(data)

    def prepare(self) -> None:
        p = self.params
        self.doc_ids = corpus_ids(self.ctx.dataset, "SPLADE")
        n_docs = len(self.doc_ids)
        resolved = self._resolved()
        self.encoder = self._sparse_encoder()
        key = self.encoding_key()

        def encode() -> tuple[bytes, dict[str, Any]]:
            import scipy.sparse

            tally = Tally()
            parts = list(encoded_parts(self, tally, self.progress))
            mat = parts[0] if len(parts) == 1 else scipy.sparse.vstack(parts, format="csr")
            return sparse_to_bytes(mat), {
                "seconds": tally.seconds,
                "tokens": tally.tokens,
                "docs": n_docs,
                "nnz": int(mat.nnz),
                "shards": tally.shards,
                "shards_from_workers": tally.from_workers,
                "model": resolved.describe(),
                "dataset": self.ctx.dataset.name,
            }

        data, meta, cached = ArtefactStore().get_or_compute(self.encoding_kind, key, encode)
        discard_shards(self)
        t0 = time.perf_counter()
        doc_vectors = bytes_to_sparse(data)
        if doc_vectors.shape[0] != n_docs:
            raise SystemConfigError(f"cached sparse vectors hold {doc_vectors.shape[0]} rows for {n_docs} documents")
        self.postings = doc_vectors.T.tocsr()  # term -> documents
        index_s = time.perf_counter() - t0
        encoding = encoding_costs(p.model, resolved, self.encoder, meta, batch_size=p.batch_size, threads=p.threads)
        encode_s = encoding["encode_s"]
        self.costs = {
            **encoding,
            "docs": n_docs,
            "vocab": int(doc_vectors.shape[1]),
            "nnz": int(doc_vectors.nnz),
            "terms_per_doc": doc_vectors.nnz / n_docs,
            "docs_per_s": n_docs / encode_s if encode_s > 0 else None,
            "index_build_s": index_s,
            "build_s": encode_s + index_s,
            "index_bytes": len(data),
            "cached": cached,
            **shard_costs(meta),
        }

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        import numpy as np

        if not queries:
            return Run({})
        with self.part("encode"):
            q = self.encoder.encode_queries([x.text for x in queries])
        if q.shape[1] != self.postings.shape[0]:
            raise SystemConfigError(
                f"query vectors have {q.shape[1]} dimensions, the index {self.postings.shape[0]}",
                hint="the query and document encoders must share a vocabulary",
            )
        k = min(self.params.depth, len(self.doc_ids))
        out: dict[str, list[ScoredDoc]] = {}
        for start in range(0, len(queries), QUERY_BLOCK):
            block = queries[start : start + QUERY_BLOCK]
            with self.part("search"):
                scores = np.asarray((q[start : start + len(block)] @ self.postings).todense(), dtype=np.float32)
                idx, vals = top_k_rows(scores, k)
            for qi, query in enumerate(block):
                # A document that shares no term with the query scores 0: it is not retrieved.
                out[query.query_id] = [
                    ScoredDoc(self.doc_ids[int(i)], float(s)) for i, s in zip(idx[qi], vals[qi], strict=True) if s > 0
                ]
        return Run(out)
