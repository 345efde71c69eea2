"""Load a model behind one interface per kind, whatever the backend.

    enc = load_bi_encoder(resolve_model("all-MiniLM-L6-v2", kind="bi-encoder"))
    docs = enc.encode_docs(texts)        # float32 [N, dim], prefixes and normalisation applied
    ce = load_cross_encoder("ms-marco-MiniLM-L-12-v2")
    ce.score([("query", "passage"), ...])  # list[float], higher is more relevant

The interfaces and options live in encoding.py; the backends (sentence-transformers on PyTorch,
onnxruntime with `tokenizers`) in st_backend.py and onnx_backend.py, which import their heavy
libraries only when a model is constructed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from harness.errors import ModelError
from harness.models.aliases import Backend, Kind
from harness.models.encoding import BiEncoder, CrossEncoderModel, EncodeOptions, SparseEncoderModel
from harness.models.locate import ResolvedModel, resolve_model
from harness.models.onnx_backend import OnnxBiEncoder, OnnxCrossEncoder
from harness.models.st_backend import STBiEncoder, STCrossEncoder, STSparseEncoder

_BACKENDS: dict[tuple[Kind, Backend], tuple[Callable[[ResolvedModel, EncodeOptions], Any], str]] = {
    ("bi-encoder", "onnx"): (OnnxBiEncoder, "onnx"),
    ("bi-encoder", "sentence-transformers"): (STBiEncoder, "dense"),
    ("cross-encoder", "onnx"): (OnnxCrossEncoder, "onnx"),
    ("cross-encoder", "sentence-transformers"): (STCrossEncoder, "dense"),
    ("sparse", "sentence-transformers"): (STSparseEncoder, "dense"),
}
"""(kind, backend) -> (model class, the harness extra that installs its libraries)."""

_LOADED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
MAX_LOADED = 4
"""Loaded models kept in memory: the stages of a sweep (one per variant) load a model once."""


def _resolve(model: str | ResolvedModel, kind: Kind, base_dir: Path | None) -> ResolvedModel:
    resolved = model if isinstance(model, ResolvedModel) else resolve_model(model, kind=kind, base_dir=base_dir)
    if resolved.kind != kind:
        raise ModelError(f"model '{resolved.ref}' is a {resolved.kind}, but a {kind} is needed here")
    return resolved


def _int8_export(kind: Kind, resolved: ResolvedModel, opts: EncodeOptions) -> Any:
    """A PyTorch model at precision int8: its int8 ONNX export, run by the onnx backend."""
    from harness.models.onnx_export import int8_onnx

    graph, meta = int8_onnx(resolved, "hidden" if kind == "bi-encoder" else "logits")
    cls = OnnxBiEncoder if kind == "bi-encoder" else OnnxCrossEncoder
    linear = meta.get("linear_params")
    return cls(resolved, opts, graph, int(linear) if isinstance(linear, int) else None)


def _construct(kind: Kind, resolved: ResolvedModel, opts: EncodeOptions) -> Any:
    if opts.precision == "int8" and resolved.backend == "sentence-transformers":
        return _guarded(_int8_export, kind, resolved, opts, "onnx")
    found = _BACKENDS.get((kind, resolved.backend))
    if found is None:  # only SPLADE lacks an onnx backend
        raise ModelError(
            f"sparse model '{resolved.ref}': only the sentence-transformers backend encodes SPLADE",
            hint="give a sentence-transformers SPLADE folder (weights, config, tokenizer), e.g. splade-tiny",
        )
    cls, extra = found
    return _guarded(lambda _k, r, o: cls(r, o), kind, resolved, opts, extra)


def _guarded(
    make: Callable[[Kind, ResolvedModel, EncodeOptions], Any],
    kind: Kind,
    resolved: ResolvedModel,
    opts: EncodeOptions,
    extra: str,
) -> Any:
    try:
        return make(kind, resolved, opts)
    except ImportError as exc:
        raise ModelError(
            f"this model needs an optional dependency that is not installed ({exc.name or exc})",
            hint=f'pip install "harness[{extra}]"',
        ) from None


def _load(kind: Kind, model: str | ResolvedModel, options: EncodeOptions | None, base_dir: Path | None) -> Any:
    """The model, constructed once per (kind, files, settings, options) among the last few."""
    resolved = _resolve(model, kind, base_dir)
    opts = options or EncodeOptions()
    key = (kind, str(resolved.path), resolved.files_hash, resolved.spec, opts)
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    loaded = _construct(kind, resolved, opts)
    _LOADED[key] = loaded
    while len(_LOADED) > MAX_LOADED:
        _LOADED.popitem(last=False)
    return loaded


def load_bi_encoder(
    model: str | ResolvedModel, options: EncodeOptions | None = None, *, base_dir: Path | None = None
) -> BiEncoder:
    return cast(BiEncoder, _load("bi-encoder", model, options, base_dir))


def load_cross_encoder(
    model: str | ResolvedModel, options: EncodeOptions | None = None, *, base_dir: Path | None = None
) -> CrossEncoderModel:
    return cast(CrossEncoderModel, _load("cross-encoder", model, options, base_dir))


def load_sparse_encoder(
    model: str | ResolvedModel, options: EncodeOptions | None = None, *, base_dir: Path | None = None
) -> SparseEncoderModel:
    return cast(SparseEncoderModel, _load("sparse", model, options, base_dir))
