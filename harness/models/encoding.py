"""What every encoder backend shares: options, the interface per model kind, and batching.

Backends (st_backend.py, onnx_backend.py) import this module; the loaders in encoders.py
import the backends. Every backend encodes in batches of texts sorted by length, so that
padding is small, and scatters the results back into input order.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from harness.models.locate import ResolvedModel

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
    precision: str = "fp32"
    """What runs (harness.models.precision): the loader picks the backend that provides it."""


@runtime_checkable
class TextEncoder(Protocol):
    """Encodes queries and documents into one row per text."""

    model: ResolvedModel
    tokens: int
    """Tokens encoded so far (padding excluded, special tokens included): throughput costs."""
    linear_params: int | None
    """Weights of the model's linear layers (2 x this = FLOPs per token), None if unknown."""

    def encode_queries(self, texts: Sequence[str]) -> Any:
        """[len(texts), width] rows, the query prefix applied."""

    def encode_docs(self, texts: Sequence[str]) -> Any:
        """[len(texts), width] rows, the document prefix applied."""


@runtime_checkable
class BiEncoder(TextEncoder, Protocol):
    """Rows are float32 numpy arrays of width `dim`."""

    dim: int


@runtime_checkable
class SparseEncoderModel(TextEncoder, Protocol):
    """Rows are float32 scipy.sparse CSR matrices of width `vocab_size`."""

    vocab_size: int


@runtime_checkable
class CrossEncoderModel(Protocol):
    model: ResolvedModel
    tokens: int
    linear_params: int | None
    tokenise_s: float
    """Seconds spent tokenising so far (inside `score`): the re-ranker times it apart."""

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """One relevance score (the model's raw logit) per (query, passage) pair."""


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first, so memory peaks early)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def run_batches(
    texts: Sequence[T],
    encode: Callable[[list[T]], Any],
    *,
    batch_size: int,
    lengths: Sequence[int],
    progress: bool,
    desc: str,
    workers: int = 1,
) -> Generator[tuple[list[int], Any], None, None]:
    """Yield (indices, encode(batch)) over batches sorted by `lengths` (token counts where the
    backend knows them: texts of one batch then pad to nearly the same length), with a bar.

    With `workers` > 1, that many threads call `encode` at once (it must release the GIL, as an
    onnxruntime session's `run` does); batches come back in the same order. An interruption
    cancels the batches not started yet, so Ctrl-C waits for at most `workers` calls."""
    from tqdm import tqdm

    batches = length_sorted_batches(lengths, max(1, batch_size))
    show = progress and len(batches) > 1
    if workers < 2 or len(batches) < 2:
        for idx in tqdm(batches, desc=desc, unit="batch", disable=not show, leave=False):
            yield idx, encode([texts[i] for i in idx])
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=min(workers, len(batches)), thread_name_prefix="harness-encode")
    try:
        futures = [pool.submit(encode, [texts[i] for i in idx]) for idx in batches]
        bar = tqdm(futures, desc=desc, unit="batch", disable=not show, leave=False)
        for idx, future in zip(batches, bar, strict=True):
            yield idx, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def gather_rows(
    items: Sequence[T],
    encode: Callable[[list[T]], Any],
    options: EncodeOptions,
    *,
    width: int | None,
    lengths: Sequence[int],
    desc: str,
    workers: int = 1,
) -> Any:
    """float32 array of encode()'s rows in input order: [N, width], or [N] when width is None
    (`workers`: run_batches)."""
    import numpy as np

    out = np.zeros((len(items),) if width is None else (len(items), width), dtype=np.float32)
    batches = run_batches(
        items,
        encode,
        batch_size=options.batch_size,
        lengths=lengths,
        progress=options.progress,
        desc=desc,
        workers=workers,
    )
    # closed on the way out: an error here would otherwise keep the pool working while the
    # traceback (and with it the generator) lives
    with contextlib.closing(batches):
        for idx, rows in batches:
            out[idx] = rows
    return out


def score_pairs(
    pairs: Sequence[tuple[str, str]],
    score: Callable[[list[tuple[str, str]]], Any],
    options: EncodeOptions,
    lengths: Sequence[int] | None = None,
) -> list[float]:
    """score() over length-sorted batches of pairs, one float per pair in input order."""
    items = [(q, d) for q, d in pairs]
    sizes = [len(q) + len(d) for q, d in items] if lengths is None else lengths
    out = gather_rows(items, score, options, width=None, lengths=sizes, desc="cross-encode")
    return [float(x) for x in out]


class PrefixedEncoder(ABC):
    """encode_queries / encode_docs with the prefix of the options, else the model's own."""

    model: ResolvedModel
    options: EncodeOptions

    @abstractmethod
    def _encode(self, texts: list[str], query: bool, desc: str) -> Any:
        """Encode texts that already carry their prefix."""

    def encode_queries(self, texts: Sequence[str]) -> Any:
        given = self.options.query_prefix
        prefix = self.model.spec.query_prefix if given is None else given
        return self._encode([prefix + t for t in texts], True, "encode queries")

    def encode_docs(self, texts: Sequence[str]) -> Any:
        given = self.options.doc_prefix
        prefix = self.model.spec.doc_prefix if given is None else given
        return self._encode([prefix + t for t in texts], False, "encode docs")
