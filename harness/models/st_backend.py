"""sentence-transformers (PyTorch, CPU) backend: bi-encoders, cross-encoders, SPLADE.

torch and sentence_transformers are imported when a model is constructed. Texts are batched
by token count here (not inside sentence-transformers, which sorts by characters) so that every
backend batches alike, a batch pads to nearly one length, and progress bars count batches the
same way. At precision bf16 the model calls run under torch.autocast(bfloat16) and vectors are
normalised afterwards in fp32 (see harness.models.precision).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from harness.errors import ModelError
from harness.models.encoding import EncodeOptions, PrefixedEncoder, gather_rows, run_batches, score_pairs
from harness.models.locate import ResolvedModel
from harness.models.throughput import linear_weights
from harness.threads import applied_threads


def _load(cls: Any, model: ResolvedModel, options: EncodeOptions, length_attr: str) -> Any:
    """A sentence-transformers model of class `cls` on CPU, with the options' threads and its
    token limit (attribute `length_attr`) set to the options', else the model's."""
    threads = options.threads or applied_threads()
    if threads:  # torch may be imported only now, after the pipeline set the threads
        import torch

        torch.set_num_threads(threads)
    quiet_hf_loading()
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
    if options.precision == "bf16":
        bf16_linear_weights(loaded)
    return loaded


def quiet_hf_loading() -> None:
    """transformers draws a "Loading weights" bar per model load: a library's bar inside the
    harness's own (one bar per long step). Loading a model takes a second; it needs none."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    disable: Any = hf_logging.disable_progress_bar  # untyped in transformers
    disable()


def bf16_linear_weights(module: Any) -> None:
    """Store the linear layers' weights in bf16, for precision bf16. Autocast rounds them to bf16
    for every product anyway, so results are identical; what changes is that it no longer casts
    every weight on every call, which made a single short query slower at bf16 than at fp32.
    Layers whose weight is tied to an embedding table (an MLM decoder) keep fp32: casting them
    would cast the embedding lookup too."""
    import torch

    tied = {m.weight.data_ptr() for m in module.modules() if isinstance(m, torch.nn.Embedding)}
    for m in module.modules():
        if isinstance(m, torch.nn.Linear) and m.weight.data_ptr() not in tied:
            m.to(torch.bfloat16)


def _autocast(precision: str) -> Any:
    import torch

    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _token_lengths(tokenizer: Any, texts: Sequence[Any], max_length: int) -> list[int]:
    """Tokens per text (or per (query, passage) pair) after truncation, special tokens included."""
    if not texts:
        return []
    if isinstance(texts[0], tuple):
        firsts, seconds = [t[0] for t in texts], [t[1] for t in texts]
        enc = tokenizer(firsts, seconds, truncation="longest_first", max_length=max_length)
    else:
        enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    return [len(ids) for ids in enc["input_ids"]]


def _normalised(rows: Any) -> Any:
    import numpy as np

    return rows / np.clip(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12, None)


class STBiEncoder(PrefixedEncoder):
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = model
        self.options = options
        self.st = _load(SentenceTransformer, model, options, "max_seq_length")
        getdim = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        self.dim = int(getdim() or 0)
        self.tokens = 0
        self.linear_params: int | None = linear_weights(self.st)

    def _encode_batch(self, texts: list[str]) -> Any:
        import numpy as np

        with _autocast(self.options.precision):
            emb = self.st.encode(
                texts, batch_size=len(texts), show_progress_bar=False, convert_to_numpy=True, normalize_embeddings=False
            )
        rows = np.asarray(emb, dtype=np.float32)
        return _normalised(rows) if self.model.spec.normalize else rows

    def _encode(self, texts: list[str], query: bool, desc: str) -> Any:
        import torch

        lengths = _token_lengths(self.st.tokenizer, texts, self.st.max_seq_length)
        self.tokens += sum(lengths)
        with torch.inference_mode():
            return gather_rows(texts, self._encode_batch, self.options, width=self.dim, lengths=lengths, desc=desc)


class STCrossEncoder:
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        from sentence_transformers import CrossEncoder

        self.model = model
        self.options = options
        # sentence-transformers 6 renamed CrossEncoder.max_length (now deprecated) to max_seq_length
        self.length_attr = "max_seq_length" if hasattr(CrossEncoder, "max_seq_length") else "max_length"
        self.ce = _load(CrossEncoder, model, options, self.length_attr)
        self.tokens = 0
        self.tokenise_s = 0.0
        self.linear_params: int | None = linear_weights(self.ce.model)
        # predict() tokenises each batch through the model's `preprocess`: timed there, an
        # instance attribute shadowing the method, so tokenising and the model are timed apart.
        self.ce.preprocess = self._timed(self.ce.preprocess)

    def _timed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.tokenise_s += time.perf_counter() - t0

        return timed

    def _score_batch(self, pairs: list[tuple[str, str]]) -> Any:
        import numpy as np
        import torch

        # The raw logits, as the onnx backend returns them. `activation_fn=None` means the model's
        # own activation (a sigmoid for one label): scores on another scale than the same model at
        # int8, and saturated to 1.0 in float32 from a logit of ~17, where ranks become ties.
        with _autocast(self.options.precision):
            scores = self.ce.predict(
                pairs,
                batch_size=len(pairs),
                show_progress_bar=False,
                convert_to_numpy=True,
                activation_fn=torch.nn.Identity(),
            )
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs), -1)[:, 0]

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        import torch

        t0 = time.perf_counter()
        lengths = _token_lengths(self.ce.tokenizer, list(pairs), getattr(self.ce, self.length_attr))
        self.tokenise_s += time.perf_counter() - t0
        self.tokens += sum(lengths)
        with torch.inference_mode():
            return score_pairs(pairs, self._score_batch, self.options, lengths)


class STSparseEncoder(PrefixedEncoder):
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        from sentence_transformers import SparseEncoder

        self.model = model
        self.options = options
        self.se = _load(SparseEncoder, model, options, "max_seq_length")
        self.tokens = 0
        self.linear_params: int | None = linear_weights(self.se)
        probe = self.se.encode_document(["probe"], show_progress_bar=False, convert_to_sparse_tensor=True)
        self.vocab_size = int(probe.shape[1])

    def _batch(self, texts: list[str], query: bool) -> Any:
        import numpy as np
        import scipy.sparse as sp

        fn = self.se.encode_query if query else self.se.encode_document
        with _autocast(self.options.precision):
            emb = fn(texts, batch_size=len(texts), show_progress_bar=False, convert_to_sparse_tensor=True)
        coo = emb.coalesce().cpu().float()
        rows, cols = coo.indices().numpy()
        vals = coo.values().numpy().astype(np.float32)
        return sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), self.vocab_size), dtype=np.float32)

    def _encode(self, texts: list[str], query: bool, desc: str) -> Any:
        import numpy as np
        import scipy.sparse as sp
        import torch

        parts: list[Any] = []
        order: list[int] = []
        lengths = _token_lengths(self.se.tokenizer, texts, self.se.max_seq_length)
        self.tokens += sum(lengths)
        with torch.inference_mode():
            for idx, mat in run_batches(
                texts,
                lambda b: self._batch(b, query),
                batch_size=self.options.batch_size,
                lengths=lengths,
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
