"""A corpus encoded in shards: the encoder calls of the dense and SPLADE stages, one per
`encode_chunk` documents, as units of work that can run anywhere.

Locally a stage encodes its shards one after the other in `prepare`. On a Ray cluster
(`harness.runner.ray_encode`) workers encode them first, each into an entry of the artefact
cache (kind `encoded-shard`, keyed by the whole encoding's key, the shard's index and its size).
The stage's `prepare` then reads them there, in order, instead of encoding, and discards them
once the whole encoding is stored. A shard's texts, their batching (an encoder call sorts its
texts by length) and so its vectors are the same wherever it is encoded: assembled, the shards
are the local encoding.

A private module: the stage registry does not load modules whose name starts with `_`.
"""

from __future__ import annotations

import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import Field

from harness.cache import ArtefactStore, make_key
from harness.data.dataset import Dataset
from harness.data.doc_store import DocStore
from harness.records import Doc
from harness.systems import RetrieverParams, StageContext
from harness.systems._indexing import DEFAULT_FIELDS, ENCODE_CHUNK, ENCODE_CHUNK_HELP, TextField, doc_text

KIND = "encoded-shard"
T = TypeVar("T")


class EncoderParams(RetrieverParams):
    """Parameters every corpus-encoding stage has (dense, splade)."""

    fields: list[TextField] = Field(default_factory=lambda: list(DEFAULT_FIELDS), min_length=1)
    encode_chunk: int = Field(default=ENCODE_CHUNK, gt=0, description=ENCODE_CHUNK_HELP)


class ShardedEncoding(ABC, Generic[T]):
    """What a stage that encodes its corpus (dense, splade) gives its shards: mixed into the
    stage class next to `Stage`. The methods may be called on a stage whose `prepare` never ran
    (a Ray worker builds the stage only to encode shards)."""

    params: EncoderParams
    ctx: StageContext
    encoding_kind: ClassVar[str]
    """The cache kind of the whole encoding (its entry is keyed by `encoding_key`)."""

    @abstractmethod
    def encoding_key(self) -> str:
        """The cache key of the whole corpus's encoding (resolves the model, never loads it)."""

    def encoding_cached(self) -> bool:
        """Whether the whole encoding is in the cache already (no shard needs encoding)."""
        return ArtefactStore().has(self.encoding_kind, self.encoding_key())

    def shard_size(self) -> int:
        """Documents per shard: the stage's `encode_chunk`."""
        return self.params.encode_chunk

    def shard_dataset(self) -> Dataset:
        """The dataset whose corpus is encoded."""
        return self.ctx.dataset

    def text_fields(self) -> Sequence[str]:
        """The document fields encoded."""
        return self.params.fields

    @abstractmethod
    def encode_texts(self, texts: list[str]) -> T:
        """One encoder call over `texts` (loads the encoder on the first call)."""

    @abstractmethod
    def tokens_encoded(self) -> int:
        """Tokens the encoder has encoded so far (for the throughput costs)."""

    @abstractmethod
    def shard_to_bytes(self, part: T) -> bytes: ...

    @abstractmethod
    def shard_from_bytes(self, data: bytes) -> T: ...


def shard_count(n_docs: int, size: int) -> int:
    return -(-n_docs // size)


def shard_key(encoding: str, index: int, size: int) -> str:
    return make_key(what=KIND, encoding=encoding, index=index, size=size)


def shard_docs(dataset: Dataset, index: int, size: int) -> list[Doc]:
    """The documents of shard `index`, in corpus order (a document store reads only those)."""
    start = index * size
    stop = min(start + size, len(dataset.docs))
    if isinstance(dataset.docs, DocStore):
        return dataset.docs.rows(start, stop)
    return list(islice(dataset.docs.values(), start, stop))


def _encode(stage: ShardedEncoding[T], index: int) -> tuple[T, dict[str, Any]]:
    texts = [doc_text(d, stage.text_fields()) for d in shard_docs(stage.shard_dataset(), index, stage.shard_size())]
    before = stage.tokens_encoded()
    t0 = time.perf_counter()
    part = stage.encode_texts(texts)
    seconds = time.perf_counter() - t0
    return part, {"seconds": seconds, "tokens": stage.tokens_encoded() - before, "docs": len(texts), "shard": index}


def encode_shard(stage: ShardedEncoding[Any], index: int) -> dict[str, Any]:
    """In a worker: encode shard `index` into the cache (unless a retried or earlier task stored
    it already); what it cost and where it ran."""
    key = shard_key(stage.encoding_key(), index, stage.shard_size())

    def make() -> tuple[bytes, dict[str, Any]]:
        part, meta = _encode(stage, index)
        return stage.shard_to_bytes(part), {**meta, "host": socket.gethostname(), "pid": os.getpid()}

    _, meta, cached = ArtefactStore().get_or_compute(KIND, key, make)
    return {**meta, "cached": cached}


@dataclass
class Tally:
    """What the shards of one encoding cost, whoever encoded them."""

    seconds: float = 0.0
    tokens: int = 0
    shards: int = 0
    from_workers: int = 0
    """Shards read from the cache (encoded by Ray workers) rather than encoded here."""

    def add(self, meta: dict[str, Any]) -> None:
        self.seconds += float(meta.get("seconds", 0.0))
        self.tokens += int(meta.get("tokens", 0))
        self.shards += 1


def encoded_parts(stage: ShardedEncoding[T], tally: Tally, progress: bool) -> Iterator[T]:
    """The corpus's encoding shard by shard, in order: a shard a worker stored is read from the
    cache, any other is encoded here; `tally` adds up their costs."""
    from tqdm import tqdm

    store = ArtefactStore()
    key, size = stage.encoding_key(), stage.shard_size()
    count = shard_count(len(stage.shard_dataset().docs), size)
    bar = tqdm(total=count, desc="corpus shards", unit="shard", leave=False, disable=not progress or count < 2)
    for index in range(count):
        skey = shard_key(key, index, size)
        data = store.get(KIND, skey)
        meta = store.meta(KIND, skey) if data is not None else None
        if data is not None and meta is not None:
            tally.from_workers += 1
            tally.add(meta)
            yield stage.shard_from_bytes(data)
        else:
            part, meta = _encode(stage, index)
            tally.add(meta)
            yield part
        bar.update()
    bar.close()


def shard_costs(meta: dict[str, Any]) -> dict[str, int]:
    """A stage's costs about its shards, from its encoding's cache entry (none for an entry
    made before shards existed)."""
    return {k: int(meta[k]) for k in ("shards", "shards_from_workers") if k in meta}


def discard_shards(stage: ShardedEncoding[Any]) -> None:
    """Remove the shard entries of a stored encoding (the whole encoding holds their content)."""
    store = ArtefactStore()
    key, size = stage.encoding_key(), stage.shard_size()
    for index in range(shard_count(len(stage.shard_dataset().docs), size)):
        store.discard(KIND, shard_key(key, index, size))
