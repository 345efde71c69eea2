"""The BM25 index as a cached artefact: bm25s's own files, with the tokenizer's vocabulary and the
indexed document ids, in one folder entry of the artefact store, memory-mapped when read.

bm25s bakes k1, b, the method and delta into the score matrix it indexes, so the key holds them
with everything that changes the tokens (fields, lowercasing, stemmer, stopwords), the corpus
fingerprint and the bm25s version (its file format). Only bm25s's public `save`/`load` and
`save_vocab`/`load_vocab` touch the files. A private module: the stage registry does not load
modules whose name starts with `_`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any, SupportsIndex, overload

FORMAT = 2
DOC_IDS = "doc_ids.json"
VOCAB = "vocab.tokenizer.json"
_CHUNK = 8192  # documents whose tokens become Python lists in one call


class TokenLists(list):  # type: ignore[type-arg]
    """Every indexed document's token ids, held as one int32 array (4 bytes a token instead of
    a Python list per document: ~200 MB less at a million passages), handed to bm25s as the list
    of lists its `index` takes. bm25s reads it by `len` and iteration only (three passes), and
    accepts a token-id corpus only as a `list`, hence the subclass; the list itself stays empty."""

    def __init__(self, flat: Any, lengths: Any) -> None:
        import numpy as np

        super().__init__()
        self.flat = flat
        self.bounds = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(0, len(self), _CHUNK):
            stop = min(start + _CHUNK, len(self))
            base = int(self.bounds[start])
            tokens = self.flat[base : int(self.bounds[stop])].tolist()
            cuts = (self.bounds[start : stop + 1] - base).tolist()
            for a, b in pairwise(cuts):
                yield tokens[a:b]

    @overload
    def __getitem__(self, i: SupportsIndex) -> list[int]: ...
    @overload
    def __getitem__(self, i: slice) -> list[list[int]]: ...
    def __getitem__(self, i: SupportsIndex | slice) -> list[int] | list[list[int]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        j = range(len(self))[i]
        return self.flat[int(self.bounds[j]) : int(self.bounds[j + 1])].tolist()  # type: ignore[no-any-return]


def keep_numba_compilations(retriever: Any) -> None:
    """Have numba keep the machine code of bm25s's jitted functions on disk (its own cache: next
    to bm25s's sources when writable, else the user's cache folder, or $NUMBA_CACHE_DIR), as
    `@njit(cache=True)` would; bm25s does not ask for it. Measured on SciFact: the first query
    of a process took 5.5 s (compiling) and takes 0.2 s once the code is kept. Numba checks the
    kept code against the function's source and the CPU. Anything unexpected leaves numba as
    it was: slower to start, the same results."""
    import contextlib

    # RuntimeError: numba finds no folder it may write its cache to.
    with contextlib.suppress(ImportError, AttributeError, RuntimeError):
        import bm25s.numba.retrieve_utils
        import bm25s.numba.selection
        from numba.core.registry import CPUDispatcher

        found = [getattr(retriever, name, None) for name in ("_np_csc", "_compute_relevance_from_scores")]
        if not _KEEPING:  # the module-level ones once per process
            modules = (bm25s.numba.retrieve_utils, bm25s.numba.selection)
            found += [obj for mod in modules for obj in vars(mod).values()]
            _KEEPING.append(True)
        for dispatcher in found:
            if isinstance(dispatcher, CPUDispatcher):
                dispatcher.enable_caching()


_KEEPING: list[bool] = []


def save_doc_ids(folder: Path, doc_ids: list[str]) -> None:
    """The indexed documents' ids, in index order (written before the index is built, so that
    the list need not be held in memory while bm25s builds it)."""
    (folder / DOC_IDS).write_text(json.dumps(doc_ids, ensure_ascii=False), encoding="utf-8")


def save_index(folder: Path, retriever: Any, tokenizer: Any) -> None:
    """Write the rest of what `load_index` needs into `folder` (after `save_doc_ids`); an index
    without a document (a corpus without a single term) saves only the vocabulary."""
    if getattr(retriever, "scores", None):
        retriever.save(str(folder), show_progress=False)
    tokenizer.save_vocab(str(folder), vocab_name=VOCAB)


def load_index(folder: Path, tokenizer: Any, backend: str) -> tuple[Any | None, list[str]]:
    """(the bm25s retriever over the memory-mapped score matrix, searching with `backend`, None
    when no document was indexed; the indexed document ids); `tokenizer` gets the stored
    vocabulary. The backend is not part of the index (both build the same arrays)."""
    import bm25s
    import numpy as np

    doc_ids = json.loads((folder / DOC_IDS).read_text(encoding="utf-8"))
    retriever = None
    if doc_ids:
        retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0, backend=backend)
        # Plain ndarray views of the same mapped pages: bm25s slices the arrays once per query
        # term, and a slice of an np.memmap builds another memmap (measured: 0.17 -> 0.21 ms
        # per SciFact query with the numpy backend).
        for name in ("data", "indices", "indptr"):
            retriever.scores[name] = np.asarray(retriever.scores[name])
        if backend == "numba":
            keep_numba_compilations(retriever)
    tokenizer.load_vocab(str(folder), vocab_name=VOCAB)
    return retriever, doc_ids
