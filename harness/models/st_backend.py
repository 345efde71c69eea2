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
from harness.models.encoding import EncodeOptions, PrefixedEncoder, gather_rows, run_batches, score_pairs
from harness.models.locate import ResolvedModel


def _load(cls: Any, model: ResolvedModel, options: EncodeOptions, length_attr: str) -> Any:
    """A sentence-transformers model of class `cls` on CPU, with the options' threads and its
    token limit (attribute `length_attr`) set to the options', else the model's."""
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = cls(str(model.path), device="cpu", local_files_only=True)
    except Exception as exc:
        raise ModelError(
            f"model '{model.ref}': sentence-transformers cannot load {model.path}: {exc}",
            hint="check that the folder holds a complete model (weights, config, tokenizer)",
        ) from None
    setattr(loaded, length_attr, options.max_length or model.spec.max_length)
    return loaded


class STBiEncoder(PrefixedEncoder):
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = model
        self.options = options
        self.st = _load(SentenceTransformer, model, options, "max_seq_length")
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

    def _encode(self, texts: list[str], query: bool, desc: str) -> Any:
        import torch

        with torch.inference_mode():
            return gather_rows(texts, self._encode_batch, self.options, width=self.dim, length=len, desc=desc)


class STCrossEncoder:
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        from sentence_transformers import CrossEncoder

        self.model = model
        self.options = options
        self.ce = _load(CrossEncoder, model, options, "max_length")

    def _score_batch(self, pairs: list[tuple[str, str]]) -> Any:
        import numpy as np

        scores = self.ce.predict(
            pairs, batch_size=len(pairs), show_progress_bar=False, convert_to_numpy=True, activation_fn=None
        )
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs), -1)[:, 0]

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return score_pairs(pairs, self._score_batch, self.options)


class STSparseEncoder(PrefixedEncoder):
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        from sentence_transformers import SparseEncoder

        self.model = model
        self.options = options
        self.se = _load(SparseEncoder, model, options, "max_seq_length")
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

    def _encode(self, texts: list[str], query: bool, desc: str) -> Any:
        import numpy as np
        import scipy.sparse as sp
        import torch

        parts: list[Any] = []
        order: list[int] = []
        with torch.inference_mode():
            for idx, mat in run_batches(
                texts,
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
