"""sentence-transformers (PyTorch, CPU) backend: bi-encoders, cross-encoders, SPLADE.

torch and sentence_transformers are imported when a model is constructed. Texts are batched
by length here (not inside sentence-transformers) so that every backend batches alike and
progress bars count batches the same way.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from harness.errors import ModelError
from harness.models.encoders import EncodeOptions, run_batches
from harness.models.registry import ResolvedModel


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _load(cls: Any, model: ResolvedModel) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(str(model.path), device="cpu", local_files_only=True)
    except Exception as exc:
        raise ModelError(
            f"model '{model.ref}': sentence-transformers cannot load {model.path}: {exc}",
            hint="check that the folder holds a complete model (weights, config, tokenizer)",
        ) from None


class STBiEncoder:
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        from sentence_transformers import SentenceTransformer

        _set_threads(options.threads)
        self.model = model
        self.options = options
        self.st = _load(SentenceTransformer, model)
        self.st.max_seq_length = options.max_length or model.spec.max_length
        getdim = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        self.dim = int(getdim() or 0)

    def _encode_batch(self, texts: list[str]) -> Any:
        import numpy as np

        emb = self.st.encode(
            texts,
            batch_size=len(texts),
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=self.model.spec.normalize,
        )
        return np.asarray(emb, dtype=np.float32)

    def _encode(self, texts: Sequence[str], prefix: str, desc: str) -> Any:
        import numpy as np
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        prefixed = [prefix + t for t in texts]
        with torch.inference_mode():
            for idx, emb in run_batches(
                prefixed,
                self._encode_batch,
                batch_size=self.options.batch_size,
                length=len,
                progress=self.options.progress,
                desc=desc,
            ):
                out[idx] = emb
        return out

    def encode_queries(self, texts: Sequence[str]) -> Any:
        prefix = self.options.query_prefix if self.options.query_prefix is not None else self.model.spec.query_prefix
        return self._encode(texts, prefix, "encode queries")

    def encode_docs(self, texts: Sequence[str]) -> Any:
        prefix = self.options.doc_prefix if self.options.doc_prefix is not None else self.model.spec.doc_prefix
        return self._encode(texts, prefix, "encode docs")


class STCrossEncoder:
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        from sentence_transformers import CrossEncoder

        _set_threads(options.threads)
        self.model = model
        self.options = options
        self.ce = _load(CrossEncoder, model)
        self.ce.max_length = options.max_length or model.spec.max_length

    def _score_batch(self, pairs: list[tuple[str, str]]) -> Any:
        import numpy as np

        scores = self.ce.predict(
            pairs, batch_size=len(pairs), show_progress_bar=False, convert_to_numpy=True, activation_fn=None
        )
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs), -1)[:, 0]

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        import numpy as np

        out = np.zeros(len(pairs), dtype=np.float32)
        for idx, s in run_batches(
            [(q, d) for q, d in pairs],
            self._score_batch,
            batch_size=self.options.batch_size,
            length=lambda p: len(p[0]) + len(p[1]),
            progress=self.options.progress,
            desc="cross-encode",
        ):
            out[idx] = s
        return [float(x) for x in out]


class STSparseEncoder:
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        from sentence_transformers import SparseEncoder

        _set_threads(options.threads)
        self.model = model
        self.options = options
        self.se = _load(SparseEncoder, model)
        self.se.max_seq_length = options.max_length or model.spec.max_length
        probe = self.se.encode_document(["probe"], show_progress_bar=False, convert_to_sparse_tensor=True)
        self.vocab_size = int(probe.shape[1])

    def _batch(self, texts: list[str], query: bool) -> Any:
        import numpy as np
        import scipy.sparse as sp

        fn = self.se.encode_query if query else self.se.encode_document
        emb = fn(texts, batch_size=len(texts), show_progress_bar=False, convert_to_sparse_tensor=True)
        coo = emb.coalesce().cpu()
        rows, cols = coo.indices().numpy()
        vals = coo.values().numpy().astype(np.float32)
        return sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), self.vocab_size), dtype=np.float32)

    def _encode(self, texts: Sequence[str], prefix: str, query: bool, desc: str) -> Any:
        import numpy as np
        import scipy.sparse as sp
        import torch

        parts: list[Any] = []
        order: list[int] = []
        with torch.inference_mode():
            for idx, mat in run_batches(
                [prefix + t for t in texts],
                lambda b: self._batch(b, query),
                batch_size=self.options.batch_size,
                length=len,
                progress=self.options.progress,
                desc=desc,
            ):
                parts.append(mat)
                order.extend(idx)
        if not parts:
            return sp.csr_matrix((0, self.vocab_size), dtype=np.float32)
        stacked = sp.vstack(parts, format="csr")
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
        out = stacked[inverse]
        out.sort_indices()
        return out.astype(np.float32)

    def encode_queries(self, texts: Sequence[str]) -> Any:
        prefix = self.options.query_prefix if self.options.query_prefix is not None else self.model.spec.query_prefix
        return self._encode(texts, prefix, True, "encode queries")

    def encode_docs(self, texts: Sequence[str]) -> Any:
        prefix = self.options.doc_prefix if self.options.doc_prefix is not None else self.model.spec.doc_prefix
        return self._encode(texts, prefix, False, "encode docs")
