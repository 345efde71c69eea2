"""onnxruntime + `tokenizers` backend: bi-encoders (mean / CLS pooling) and cross-encoders.

The tokenizer.json files shipped with ONNX exports often pad every input to 512 tokens; we
set truncation to the model's max length and padding to the longest text of each batch
ourselves. onnxruntime and tokenizers are imported when a model is constructed, never at
import time.

The shipped exports are dynamically quantised (int8): activation scales are computed per
batch, so a text's vector moves slightly with its batch neighbours (cosine > 0.98 in tests).
Cached document embeddings keep repeated runs identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.errors import ModelError
from harness.models.encoding import EncodeOptions, PrefixedEncoder, gather_rows, score_pairs
from harness.models.locate import ResolvedModel


def _session(model: ResolvedModel, threads: int | None) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model.path / "model.onnx"), so, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(
            f"model '{model.ref}': onnxruntime cannot load {model.path / 'model.onnx'}: {exc}",
            hint="the file may be truncated; reinstall the package that carries it",
        ) from None


def _tokenizer(model: ResolvedModel, max_length: int) -> Any:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(model.path / "tokenizer.json"))
    except Exception as exc:
        raise ModelError(f"model '{model.ref}': cannot read tokenizer.json: {exc}") from None
    tok.no_padding()
    tok.enable_truncation(max_length=max_length, strategy="longest_first")
    pad_id = tok.token_to_id("[PAD]")
    tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
    return tok


class _OnnxModel:
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        self.model = model
        self.options = options
        self.max_length = options.max_length or model.spec.max_length
        self.session = _session(model, options.threads)
        self.tokenizer = _tokenizer(model, self.max_length)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def _feed(self, encodings: list[Any]) -> dict[str, Any]:
        import numpy as np

        arrays = {
            "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
        }
        unknown = [n for n in self.input_names if n not in arrays]
        if unknown:
            raise ModelError(f"model '{self.model.ref}': unsupported ONNX inputs {unknown}")
        return {n: arrays[n] for n in self.input_names}


class OnnxBiEncoder(_OnnxModel, PrefixedEncoder):
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        super().__init__(model, options)
        if "last_hidden_state" in self.output_names:
            self.output = "last_hidden_state"
        elif "token_embeddings" in self.output_names:
            self.output = "token_embeddings"
        else:
            self.output = self.output_names[0]
        self.pooling = model.spec.pooling or "mean"
        probe = self._encode_batch(["probe"])
        self.dim = int(probe.shape[1])

    def _encode_batch(self, texts: list[str]) -> Any:
        import numpy as np

        encodings = self.tokenizer.encode_batch(texts)
        feed = self._feed(encodings)
        hidden = self.session.run([self.output], feed)[0]
        if hidden.ndim == 2:  # already pooled
            pooled = hidden
        elif self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "max":
            masked = np.where(feed["attention_mask"][..., None] > 0, hidden, -np.inf)
            pooled = masked.max(axis=1)
        else:
            mask = feed["attention_mask"][..., None].astype(hidden.dtype)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        pooled = pooled.astype(np.float32)
        if self.model.spec.normalize:
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled

    def _encode(self, texts: list[str], query: bool, desc: str) -> Any:
        return gather_rows(texts, self._encode_batch, self.options, width=self.dim, length=len, desc=desc)


class OnnxCrossEncoder(_OnnxModel):
    def __init__(self, model: ResolvedModel, options: EncodeOptions) -> None:
        super().__init__(model, options)
        self.output = "logits" if "logits" in self.output_names else self.output_names[0]

    def _score_batch(self, pairs: list[tuple[str, str]]) -> Any:
        encodings = self.tokenizer.encode_batch(pairs)
        logits = self.session.run([self.output], self._feed(encodings))[0]
        return logits.reshape(len(pairs), -1)[:, 0]

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return score_pairs(pairs, self._score_batch, self.options)
