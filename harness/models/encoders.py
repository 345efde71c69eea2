"""One interface per model kind, whatever the backend.

    enc = load_bi_encoder(resolve_model("all-MiniLM-L6-v2", kind="bi-encoder"))
    docs = enc.encode_docs(texts)        # float32 [N, dim], prefixes and normalisation applied
    ce = load_cross_encoder("ms-marco-MiniLM-L-12-v2")
    ce.score([("query", "passage"), ...])  # list[float], higher is more relevant

Backends (sentence-transformers on PyTorch, onnxruntime with `tokenizers`) live in
st_backend.py and onnx_backend.py and are imported only when a model is loaded. Every backend
encodes in batches of texts sorted by length, so that padding is small, and scatters the results
back into input order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from harness.errors import ModelError
from harness.models.registry import Kind, ResolvedModel, resolve_model

T = TypeVar("T")


@dataclass(frozen=True)
class EncodeOptions:
    """Settings shared by every backend. None means "the model's own default"."""

    batch_size: int = 32
    threads: int | None = None
    max_length: int | None = None
    progress: bool = False
    query_prefix: str | None = None
    doc_prefix: str | None = None


@runtime_checkable
class BiEncoder(Protocol):
    model: ResolvedModel
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> Any:
        """float32 array [len(texts), dim]."""

    def encode_docs(self, texts: Sequence[str]) -> Any:
        """float32 array [len(texts), dim]."""


@runtime_checkable
class CrossEncoderModel(Protocol):
    model: ResolvedModel

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """One relevance score (the model's raw logit) per (query, passage) pair."""


@runtime_checkable
class SparseEncoderModel(Protocol):
    model: ResolvedModel
    vocab_size: int

    def encode_queries(self, texts: Sequence[str]) -> Any:
        """scipy.sparse.csr_matrix float32 [len(texts), vocab_size]."""

    def encode_docs(self, texts: Sequence[str]) -> Any:
        """scipy.sparse.csr_matrix float32 [len(texts), vocab_size]."""


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first, so memory peaks early)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def run_batches(
    texts: Sequence[T],
    encode: Callable[[list[T]], Any],
    *,
    batch_size: int,
    length: Callable[[T], int],
    progress: bool,
    desc: str,
) -> Iterator[tuple[list[int], Any]]:
    """Yield (indices, encode(batch)) over length-sorted batches, with a progress bar."""
    from tqdm import tqdm

    batches = length_sorted_batches([length(t) for t in texts], max(1, batch_size))
    show = progress and len(batches) > 1
    for idx in tqdm(batches, desc=desc, unit="batch", disable=not show, leave=False):
        yield idx, encode([texts[i] for i in idx])


def _resolve(model: str | ResolvedModel, kind: Kind, base_dir: Path | None) -> ResolvedModel:
    resolved = model if isinstance(model, ResolvedModel) else resolve_model(model, kind=kind, base_dir=base_dir)
    if resolved.kind != kind:
        raise ModelError(f"model '{resolved.ref}' is a {resolved.kind}, but a {kind} is needed here")
    return resolved


_LOADED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
MAX_LOADED = 4
"""Loaded models kept in memory: the stages of a sweep (one per variant) load a model once."""


def _memo(kind: Kind, resolved: ResolvedModel, opts: EncodeOptions, load: Callable[[], T]) -> T:
    key = (kind, str(resolved.path), resolved.files_hash, resolved.spec, opts)
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return cast(T, _LOADED[key])
    model = load()
    _LOADED[key] = model
    while len(_LOADED) > MAX_LOADED:
        _LOADED.popitem(last=False)
    return model


def clear_loaded() -> None:
    """Forget the models kept in memory."""
    _LOADED.clear()


def _missing(extra: str, exc: ImportError) -> ModelError:
    return ModelError(
        f"this model needs an optional dependency that is not installed ({exc.name or exc})",
        hint=f'pip install "harness[{extra}]"',
    )


def load_bi_encoder(
    model: str | ResolvedModel, options: EncodeOptions | None = None, *, base_dir: Path | None = None
) -> BiEncoder:
    resolved = _resolve(model, "bi-encoder", base_dir)
    opts = options or EncodeOptions()
    return _memo("bi-encoder", resolved, opts, lambda: _load_bi_encoder(resolved, opts))


def _load_bi_encoder(resolved: ResolvedModel, opts: EncodeOptions) -> BiEncoder:
    if resolved.backend == "onnx":
        from harness.models.onnx_backend import OnnxBiEncoder

        try:
            return OnnxBiEncoder(resolved, opts)
        except ImportError as exc:
            raise _missing("onnx", exc) from None
    from harness.models.st_backend import STBiEncoder

    try:
        return STBiEncoder(resolved, opts)
    except ImportError as exc:
        raise _missing("dense", exc) from None


def load_cross_encoder(
    model: str | ResolvedModel, options: EncodeOptions | None = None, *, base_dir: Path | None = None
) -> CrossEncoderModel:
    resolved = _resolve(model, "cross-encoder", base_dir)
    opts = options or EncodeOptions()
    return _memo("cross-encoder", resolved, opts, lambda: _load_cross_encoder(resolved, opts))


def _load_cross_encoder(resolved: ResolvedModel, opts: EncodeOptions) -> CrossEncoderModel:
    if resolved.backend == "onnx":
        from harness.models.onnx_backend import OnnxCrossEncoder

        try:
            return OnnxCrossEncoder(resolved, opts)
        except ImportError as exc:
            raise _missing("onnx", exc) from None
    from harness.models.st_backend import STCrossEncoder

    try:
        return STCrossEncoder(resolved, opts)
    except ImportError as exc:
        raise _missing("dense", exc) from None


def load_sparse_encoder(
    model: str | ResolvedModel, options: EncodeOptions | None = None, *, base_dir: Path | None = None
) -> SparseEncoderModel:
    resolved = _resolve(model, "sparse", base_dir)
    opts = options or EncodeOptions()
    return _memo("sparse", resolved, opts, lambda: _load_sparse_encoder(resolved, opts))


def _load_sparse_encoder(resolved: ResolvedModel, opts: EncodeOptions) -> SparseEncoderModel:
    if resolved.backend != "sentence-transformers":
        raise ModelError(f"sparse model '{resolved.ref}': only the sentence-transformers backend encodes SPLADE")
    from harness.models.st_backend import STSparseEncoder

    try:
        return STSparseEncoder(resolved, opts)
    except ImportError as exc:
        raise _missing("dense", exc) from None
