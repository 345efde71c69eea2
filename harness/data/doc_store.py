"""A corpus on disk: documents converted once into an Arrow IPC file in the artefact cache and read
from there, in batches or by id, instead of being held as a dict of Python objects.

At a million MS MARCO passages the dict costs ~1 GB of memory and the JSON parse ~10 s on every
run; the store is built on first use (keyed by the sha256 of the corpus file's bytes and the
reader's format, so any edit to the file makes a new store) and afterwards opened in
milliseconds. Full passes (fingerprints, tokenisation, encoding) read it through plain file reads,
one record batch at a time, so their memory is one batch; lookups by id memory-map it.

The corpus fingerprint (`corpus_fingerprint`'s formula) is computed while the store is written and
kept with it, so that cache keys of indexes and embeddings are the ones an in-memory corpus gets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, ValuesView
from pathlib import Path
from typing import Any

from harness.cache import ArtefactStore, make_key
from harness.fsutil import sha256_file
from harness.records import Doc

KIND = "doc-store"
FORMAT = 1
FILE = "docs.arrow"
BATCH_ROWS = 16_384
"""Rows per record batch: a full pass holds one batch (~6 MB of MS MARCO passages) at a time."""


def doc_line(doc: Doc) -> bytes:
    """One document's share of the corpus fingerprint (ids, titles, texts and their order)."""
    return json.dumps([doc.doc_id, doc.title, doc.text], ensure_ascii=False).encode("utf-8") + b"\n"


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("title", pa.string()), ("text", pa.string())])


def write_store(docs: Iterable[Doc], folder: Path) -> dict[str, Any]:
    """Write `docs` (in corpus order) into `folder`; the store's metadata (count, fingerprint)."""
    import pyarrow as pa

    h = hashlib.sha256()
    n = 0
    ids: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    with pa.OSFile(str(folder / FILE), "wb") as sink, pa.ipc.new_file(sink, _schema()) as writer:

        def flush() -> None:
            writer.write_batch(pa.record_batch([ids, titles, texts], schema=_schema()))
            ids.clear()
            titles.clear()
            texts.clear()

        for doc in docs:
            h.update(doc_line(doc))
            ids.append(doc.doc_id)
            titles.append(doc.title)
            texts.append(doc.text)
            n += 1
            if len(ids) == BATCH_ROWS:
                flush()
        if ids or n == 0:
            flush()
    return {"format": FORMAT, "docs": n, "fingerprint": h.hexdigest(), "batch_rows": BATCH_ROWS}


class _Values(ValuesView[Doc]):
    """The store's documents in corpus order, streamed batch by batch (never by id lookups)."""

    _mapping: DocStore

    def __iter__(self) -> Iterator[Doc]:
        for batch in self._mapping.batches():
            yield from batch


class DocStore(Mapping[str, Doc]):
    """A read-only mapping of document id -> Doc over a store folder, in corpus order."""

    def __init__(self, folder: Path, meta: Mapping[str, Any]) -> None:
        self.path = folder / FILE
        self.fingerprint: str = str(meta["fingerprint"])
        self._len = int(meta["docs"])
        self._rows: dict[str, int] | None = None
        self._mapped: list[Any] | None = None

    def __len__(self) -> int:
        return self._len

    def _batches(self, columns: tuple[str, ...]) -> Iterator[list[list[str]]]:
        """Each record batch's columns as Python lists, read (not mapped) one batch at a time."""
        import pyarrow as pa

        with pa.OSFile(str(self.path), "rb") as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                yield [batch.column(c).to_pylist() for c in columns]

    def batches(self) -> Iterator[list[Doc]]:
        """The documents in corpus order, one record batch per list."""
        for ids, titles, texts in self._batches(("id", "title", "text")):
            yield list(map(Doc, ids, titles, texts))

    def rows(self, start: int, stop: int) -> list[Doc]:
        """The documents at rows [start, stop) in corpus order, read from only the record
        batches that hold them (a worker encoding one shard of a big corpus reads that shard)."""
        import pyarrow as pa

        out: list[Doc] = []
        with pa.OSFile(str(self.path), "rb") as source:
            reader = pa.ipc.open_file(source)
            for i in range(start // BATCH_ROWS, min(-(-stop // BATCH_ROWS), reader.num_record_batches)):
                batch = reader.get_batch(i)
                lo, hi = max(start - i * BATCH_ROWS, 0), min(stop - i * BATCH_ROWS, batch.num_rows)
                cols = [batch.column(c).slice(lo, hi - lo).to_pylist() for c in range(3)]
                out.extend(map(Doc, *cols))
        return out

    def __iter__(self) -> Iterator[str]:
        for (ids,) in self._batches(("id",)):
            yield from ids

    def values(self) -> _Values:
        return _Values(self)

    def _row_of(self) -> dict[str, int]:
        # Built on the first lookup by id (a re-ranker reading its candidates), not before: a
        # first-stage retriever only ever streams the corpus.
        if self._rows is None:
            self._rows = {doc_id: row for row, doc_id in enumerate(self)}
        return self._rows

    def __getitem__(self, doc_id: str) -> Doc:
        row = self._row_of()[doc_id]
        if self._mapped is None:
            import pyarrow as pa

            # Zero-copy views of the mapped file, one per record batch (their metadata read once:
            # a re-ranker reads a hundred documents per query inside its timed search).
            reader = pa.ipc.open_file(pa.memory_map(str(self.path), "r"))
            self._mapped = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        batch = self._mapped[row // BATCH_ROWS]
        at = row % BATCH_ROWS
        return Doc(doc_id, batch.column(1)[at].as_py(), batch.column(2)[at].as_py())

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._row_of()

    def remembered(self, what: str, parts: Mapping[str, Any], compute: Callable[[], str]) -> str:
        """A string derived from this corpus and `parts` (e.g. a dataset fingerprint), computed
        once and kept in the artefact cache, so that a later run does not read every document."""
        from harness.errors import CacheError

        key = make_key(what=what, corpus=self.fingerprint, **parts)
        try:
            data, _, _ = ArtefactStore().get_or_compute(f"{KIND}-memo", key, lambda: (compute().encode("utf-8"), {}))
        except CacheError:  # a read-only cache that holds the store: computed, not kept
            return compute()
        return data.decode("utf-8")

    def __repr__(self) -> str:
        return f"DocStore({self._len} docs, {self.path})"


def open_store(corpus_file: Path, read: Callable[[Path], Iterable[Doc]], reader: str) -> DocStore:
    """The store of `corpus_file`, converted with `read` on first use (read's errors, which name
    the file and line, reach the caller and leave nothing behind). `reader` names the reader and
    its version: a reader that changes how it turns lines into documents must change it."""
    key = make_key(what=KIND, format=FORMAT, reader=reader, file_sha256=sha256_file(corpus_file))
    folder, meta, _ = ArtefactStore().folder_or_build(KIND, key, lambda tmp: write_store(read(corpus_file), tmp))
    return DocStore(folder, meta)
