"""What the indexing stages (bm25, dense, splade) share: the documents to index, the text
read from each, a fingerprint of the corpus, and the model's and the encoding's part of their costs.

A private module: the stage registry does not load modules whose name starts with `_`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal

from harness.data.dataset import Dataset
from harness.data.doc_store import DocStore, doc_line
from harness.errors import SystemConfigError
from harness.records import Doc

if TYPE_CHECKING:  # bm25 shares this module and needs no model code
    from harness.models.encoding import TextEncoder
    from harness.models.locate import ResolvedModel

TextField = Literal["title", "text"]
DEFAULT_FIELDS: tuple[TextField, ...] = ("title", "text")


ENCODE_CHUNK = 65_536
"""Default documents per encoder call (the stages' `encode_chunk`). A call sorts its texts by
token count into batches; a corpus up to this size is one call, a larger one is read a chunk (a
shard, `_shards`) at a time, so that the texts held are one chunk's and not the corpus's.
Chunked, the batches (and so the last bits of an embedding) differ from one call over the
corpus: `chunking` puts the chunk size into the cache key then."""

ENCODE_CHUNK_HELP = "documents per encoder call, and per shard a Ray worker encodes"


def _require_docs(dataset: Dataset, stage: str) -> None:
    if not dataset.docs:
        raise SystemConfigError(
            f"dataset '{dataset.name}' has no documents to index",
            hint=f"{stage} needs a corpus; give the dataset a corpus file",
        )


def corpus_ids(dataset: Dataset, stage: str) -> list[str]:
    """The dataset's document ids in corpus order (a document store reads only its id column);
    an error naming `stage` when there are none."""
    _require_docs(dataset, stage)
    return list(dataset.docs)


def corpus_batches(dataset: Dataset, stage: str, size: int = 16_384) -> Iterator[list[Doc]]:
    """The dataset's documents in corpus order, `size` at a time: what a stage that reads the
    whole corpus once streams (a document store reads one record batch at a time), so that its
    memory is a batch and not the corpus. An error naming `stage` when there are none."""
    _require_docs(dataset, stage)
    values = iter(dataset.docs.values())
    while batch := list(islice(values, size)):
        yield batch


def chunking(dataset: Dataset, size: int) -> dict[str, int]:
    """The cache-key part of the chunk size: empty when the corpus is one chunk (one encoder call
    over the whole corpus, as before chunks existed), else the chunk size."""
    return {"encode_chunk": size} if len(dataset.docs) > size else {}


def doc_text(doc: Doc, fields: Sequence[str]) -> str:
    """The fields joined by a space, empty ones skipped (BEIR's title + ' ' + text)."""
    parts = {"title": doc.title, "text": doc.text}
    return " ".join(parts[f] for f in fields if parts[f]).strip()


_CORPUS_FINGERPRINTS: dict[str, str] = {}
"""Dataset fingerprint -> corpus fingerprint: computed once per corpus and process, not once per
stage and cell (a json.dumps per document: seconds at a million documents)."""


def corpus_fingerprint(dataset: Dataset) -> str:
    """sha256 of the documents alone (ids, titles, texts, order): queries and qrels may change
    without invalidating the document embeddings or indexes."""
    if isinstance(dataset.docs, DocStore):  # computed when the store was written
        return dataset.docs.fingerprint
    known = _CORPUS_FINGERPRINTS.get(dataset.fingerprint)
    if known is not None:
        return known
    h = hashlib.sha256()
    for d in dataset.docs.values():
        h.update(doc_line(d))
    _CORPUS_FINGERPRINTS[dataset.fingerprint] = h.hexdigest()
    return h.hexdigest()


def model_costs(ref: str, resolved: ResolvedModel) -> dict[str, object]:
    """The encoder's entries in a stage's costs (`ref`: the model as the stage names it)."""
    return {
        "model": ref,
        "model_sha256": resolved.files_hash,
        "backend": resolved.backend,
        "precision": resolved.spec.precision,
    }


def encoding_costs(
    ref: str,
    resolved: ResolvedModel,
    encoder: TextEncoder,
    meta: dict[str, Any],
    *,
    batch_size: int,
    threads: int | None,
) -> dict[str, Any]:
    """The costs of encoding the corpus (dense, splade): the model, throughput against the GEMM
    peak, and `encode_s`, from the cache entry's metadata (what was recorded when it was made)."""
    from harness.models.throughput import default_threads, gemm_peak_gflops, throughput_costs

    precision = resolved.spec.precision
    encode_s = float(meta.get("seconds", 0.0))
    throughput = throughput_costs(
        tokens=int(meta.get("tokens", 0)),
        seconds=encode_s,
        linear_params=encoder.linear_params,
        precision=precision,
        batch_size=int(meta.get("batch_size", batch_size)),  # what the stored encoding ran at
        threads=threads or default_threads(),
        peak_gflops=gemm_peak_gflops(precision),
    )
    return {**model_costs(ref, resolved), **throughput, "encode_s": encode_s}


def unknown_candidate(doc_id: str, dataset: Dataset) -> SystemConfigError:
    """The error of a re-ranker given a candidate its dataset's corpus does not hold."""
    return SystemConfigError(
        f"candidate document '{doc_id}' is not in the corpus of dataset '{dataset.name}'",
        hint="re-rank runs over the dataset's own corpus (check the run file and dataset match)",
    )
