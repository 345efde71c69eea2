"""int8 models made from fp32 PyTorch weights: ONNX export, then dynamic quantisation.

The transformer inside a sentence-transformers or Hugging Face folder is exported with
`torch.onnx.export` (the TorchScript exporter: it needs no onnxscript and takes ~2 s for a
MiniLM) and quantised with `onnxruntime.quantization.quantize_dynamic`. Weights are int8 per
output channel and only MatMul nodes are quantised: with one scale per tensor, MiniLM-L6 document
vectors fell to cosine 0.90 of fp32 on SciFact; per channel they stay at 0.99. Activations are
then given one scale per token instead of one per tensor (`onnx_per_token`): mean cosine 0.9952
-> 0.9976, and a text's vector no longer depends on its batch.

The model is exported with eager attention: the SDPA export wraps every attention softmax in
IsNaN/Where guards that took 25-30% of the int8 graph's time (MiniLM, 256 tokens: 24.3 -> 16.4 ms
per call for the per-tensor graph, 37.5 -> 30.2 ms for fp32; same outputs to cosine 1.0).

The quantised model's bytes are cached in the artefact store, keyed by the model files' hash,
the head exported, the opset, the quantisation recipe and the torch / onnxruntime versions (an
exporter or quantiser change makes a new entry, never a silent reuse). onnxruntime loads the
bytes directly, so nothing is unpacked on disk.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Literal

from harness.errors import ModelError
from harness.models.locate import ResolvedModel
from harness.models.throughput import linear_weights

Head = Literal["hidden", "logits"]
"""`hidden`: the encoder's last hidden state (bi-encoders pool it); `logits`: the classification
or MLM head's output (cross-encoders, SPLADE)."""
OPSET = 17
FORMAT = 2
"""Bump when the recipe below changes what an entry holds (or its metadata's meaning)."""
RECIPE = "eager-attention+dynamic-qint8-per-channel-matmul+per-token-activations"
"""Part of every cache key that holds what an int8 export computed (embeddings, scores)."""
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _versions() -> dict[str, str]:
    import onnxruntime
    import torch

    return {"torch": str(torch.__version__), "onnxruntime": str(onnxruntime.__version__)}


def _hf_model(folder: Path, head: Head, kind: str) -> Any:
    """The transformer of the folder (a sentence-transformers folder holds a plain HF model)."""
    import transformers

    from harness.models.st_backend import quiet_hf_loading

    quiet_hf_loading()
    cls: Any = transformers.AutoModel
    if head == "logits":
        cls = transformers.AutoModelForMaskedLM if kind == "sparse" else transformers.AutoModelForSequenceClassification
    return cls.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()


def _export(model: ResolvedModel, head: Head, target: Path) -> int:
    """Write the fp32 ONNX graph of the model to `target`; return its linear-layer weight count."""
    import torch

    hf = _hf_model(model.path, head, model.kind)

    class _Wrapped(torch.nn.Module):
        # Keyword arguments: BertModel.forward's positional order changed across transformers versions.
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state if head == "hidden" else out.logits

    ids = torch.ones((2, 16), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "output")}
    # The exporter warns about tracing details (advanced indexing, causal masks) that do not
    # apply to these encoders; the export is checked against the PyTorch model by the tests.
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Wrapped(hf),
            (ids, ids, torch.zeros_like(ids)),
            str(target),
            input_names=list(INPUTS),
            output_names=["output"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return linear_weights(hf)


def _quantise(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from harness.models.onnx_per_token import per_token_activations

    # The quantiser logs a suggestion to pre-process (shape inference) on the root logger at
    # WARNING; it does not change these graphs' quantisation, so it is not shown to users.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
        )
    finally:
        root.setLevel(level)
    onnx.save(per_token_activations(onnx.load(str(target))), str(target))


def int8_onnx(model: ResolvedModel, head: Head) -> tuple[bytes, dict[str, Any]]:
    """(ONNX bytes, metadata) of the model quantised to int8, from the cache or made now."""
    from harness.cache import ArtefactStore, make_key

    try:
        versions = _versions()
    except ImportError as exc:
        raise ModelError(
            f"precision int8 for '{model.ref}' exports the model to ONNX, which needs {exc.name or exc}",
            hint='pip install "harness[dense,onnx]"',
        ) from None
    key = make_key(
        what="int8-onnx", format=FORMAT, model_files=model.files_hash, head=head, opset=OPSET, recipe=RECIPE, **versions
    )

    def make() -> tuple[bytes, dict[str, Any]]:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="harness-onnx-") as tmp:
            fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            try:
                linear = _export(model, head, fp32)
                _quantise(fp32, int8)
            except ImportError as exc:
                raise ModelError(
                    f"precision int8 for '{model.ref}' needs {exc.name or exc} to export and quantise the model",
                    hint='pip install "harness[dense,onnx]"',
                ) from None
            except Exception as exc:
                raise ModelError(
                    f"model '{model.ref}' could not be exported to ONNX for int8: {exc}",
                    hint="use precision: fp32 or bf16 for this model",
                ) from None
            data = int8.read_bytes()
        meta = {"seconds": time.perf_counter() - t0, "linear_params": linear, "recipe": RECIPE, **versions}
        return data, {**meta, "model": model.describe(), "pid": os.getpid()}

    data, meta, _ = ArtefactStore().get_or_compute("onnx-models", key, make)
    return data, meta
