"""BM25 through bm25s, with PyStemmer stemming and a choice of fields."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.cache import ArtefactStore, make_key
from harness.errors import SystemConfigError
from harness.records import Query, Ranking, Run, ScoredDoc, trec_order
from harness.systems import STAGES, RetrieverParams, Stage
from harness.systems._bm25_index import (
    FORMAT,
    TokenLists,
    keep_numba_compilations,
    load_index,
    save_doc_ids,
    save_index,
)
from harness.systems._indexing import TextField, corpus_batches, corpus_fingerprint, doc_text

TIE_SLACK = 16
"""Hits asked of bm25s beyond `depth`: when the last of them still ties with the depth-th, more
are asked for (see `BM25._at_least`). Measured at depth 1000: ties run at most 7 past the cut-off
on SciFact and NFCorpus, 34 on DL19 (3 of 43 queries past 16); each extra hit costs ~0.1%."""


NUMBA_FROM_DOCS = 10_000
"""`backend: auto` picks numba from this many documents on. Measured per query (depth 1000):
SciFact (5,183 documents) numpy 0.16 ms, numba 0.23 ms (numba's fixed cost per call); the DL
pool (27,274) numpy 0.93, numba 0.35 ms; 1M passages numpy 38, numba 1.7 ms (README "Scale")."""


def _has_numba() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def auto_backend(docs: int) -> str:
    """What `backend: auto` runs for a corpus of `docs` documents: numba when it is installed
    and the corpus is large enough for it to pay, else numpy."""
    return "numba" if docs >= NUMBA_FROM_DOCS and _has_numba() else "numpy"


class BM25Params(RetrieverParams):
    k1: float = Field(default=0.9, ge=0)
    b: float = Field(default=0.4, ge=0, le=1)
    method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    delta: float = Field(default=0.5, description="BM25L / BM25+ only")
    stemmer: str | None = Field(default="english", description="PyStemmer algorithm, or null")
    stopwords: str | list[str] | None = Field(default="en", description="bm25s list name, a list, or null")
    fields: list[TextField] = Field(default=["title", "text"], min_length=1)
    lower: bool = True
    backend: Literal["auto", "numpy", "numba"] = Field(
        default="auto",
        description="bm25s's backend; auto: numba from 10,000 documents when installed (the `numba` extra)",
    )


@STAGES.register("bm25")
class BM25(Stage):
    """BM25; the index (bm25s's score matrix, the vocabulary, the indexed ids) is an artefact of
    the cache like a FAISS index, keyed by the corpus and everything that changes the index."""

    Params = BM25Params
    params: BM25Params
    uses_cache: ClassVar[bool] = True

    def _tokenizer(self) -> Any:
        import bm25s.tokenization

        stemmer = None
        if self.params.stemmer:
            import Stemmer

            try:
                stemmer = Stemmer.Stemmer(self.params.stemmer)
            except KeyError:
                raise SystemConfigError(
                    f"unknown stemmer '{self.params.stemmer}'",
                    hint=f"PyStemmer knows: {', '.join(Stemmer.algorithms())}",
                ) from None
        try:
            return bm25s.tokenization.Tokenizer(
                lower=self.params.lower, stopwords=self.params.stopwords or [], stemmer=stemmer
            )
        except ValueError as exc:
            raise SystemConfigError(f"bm25 tokenizer: {exc}") from None

    def _backend(self) -> str:
        """The bm25s backend this stage runs (both give the same runs: tests/contract)."""
        if self.params.backend == "numba" and not _has_numba():
            raise SystemConfigError(
                "bm25 backend 'numba' needs numba, which is not installed",
                hint='pip install "harness[numba]", or set backend: numpy',
            )
        if self.params.backend == "auto":
            return auto_backend(len(self.ctx.dataset.docs))
        return self.params.backend

    def _index_key(self) -> str:
        """Everything that changes the index bm25s builds (not `depth`: a search-time knob)."""
        import bm25s

        p = self.params
        return make_key(
            what="bm25-index",
            format=FORMAT,
            bm25s=bm25s.__version__,
            corpus=corpus_fingerprint(self.ctx.dataset),
            **p.model_dump(include={"k1", "b", "method", "delta", "stemmer", "stopwords", "fields", "lower"}),
        )

    def _tokenise(self) -> tuple[list[str], Any, Any, int]:
        """(ids of the documents with a term, their tokens as one int32 array, their token
        counts, how many documents there were), read from the corpus a batch at a time."""
        import numpy as np
        from tqdm import tqdm

        ids: list[str] = []
        chunks: list[Any] = []
        lengths: list[int] = []
        total = len(self.ctx.dataset.docs)
        bar = tqdm(total=total, desc="bm25 tokenise", unit="doc", leave=False, disable=not self.progress)
        for batch in corpus_batches(self.ctx.dataset, "BM25"):
            # allow_empty=False: bm25s would give an empty text a one-token placeholder, so an
            # empty document would count as length 1 and match every query that tokenises to
            # nothing. The stream is what `tokenize` itself iterates (its own bar stays off: it
            # would nest in the cell's bar); the vocabulary grows batch after batch in first-seen
            # order, as in one call over the whole corpus.
            stream = self.tokenizer.tokenize(
                [doc_text(d, self.params.fields) for d in batch],
                update_vocab=True,
                return_as="stream",
                allow_empty=False,
            )
            flat: list[int] = []
            for doc, doc_tokens in zip(batch, stream, strict=True):
                # As Lucene does (CollectionStatistics.docCount), a document without a single
                # term after tokenisation is left out of N and the average length, and can never
                # be retrieved; so adding empty documents to a corpus changes no score.
                if doc_tokens:
                    ids.append(doc.doc_id)
                    lengths.append(len(doc_tokens))
                    flat.extend(doc_tokens)
            chunks.append(np.asarray(flat, dtype=np.int32))
            bar.update(len(batch))
        bar.close()
        return ids, np.concatenate(chunks or [np.zeros(0, np.int32)]), np.asarray(lengths, np.int64), total

    def _build(self, folder: Path) -> dict[str, Any]:
        """Tokenise and index the corpus into `folder`; what it cost."""
        import bm25s

        t0 = time.perf_counter()
        doc_ids, flat, lengths, total = self._tokenise()
        save_doc_ids(folder, doc_ids)
        indexed = len(doc_ids)
        del doc_ids
        p = self.params
        retriever = bm25s.BM25(k1=p.k1, b=p.b, method=p.method, delta=p.delta, backend=self.backend)
        if self.backend == "numba":
            # bm25s 0.3 leaves its numba CSC builder off unless asked (its auto_compile test is
            # inverted). Asked, it builds the same arrays by a counting sort instead of an
            # argsort over 64-bit keys: ~290 MB less at the peak at a million passages.
            retriever.activate_numba_csc()
            keep_numba_compilations(retriever)
        if indexed:
            vocab = self.tokenizer.get_vocab_dict()
            retriever.index((TokenLists(flat, lengths), vocab), create_empty_token=False, show_progress=False)
        del flat
        seconds = time.perf_counter() - t0
        # bm25s keeps the index as a CSC matrix of precomputed scores; its arrays are the index.
        arrays = getattr(retriever, "scores", {}) or {}
        meta = {
            "seconds": seconds,
            "docs": total,
            "vocabulary": len(self.tokenizer.get_vocab_dict()),
            "index_bytes": sum(int(getattr(a, "nbytes", 0)) for a in arrays.values()),
            "empty_docs": total - indexed,
        }
        save_index(folder, retriever, self.tokenizer)
        return meta

    def prepare(self) -> None:
        self.tokenizer = self._tokenizer()
        self.backend = self._backend()
        # Built into the store and read back from it, memory-mapped: a cold and a warm run
        # search the same files the same way.
        folder, meta, cached = ArtefactStore().folder_or_build("bm25-index", self._index_key(), self._build)
        self.tokenizer = self._tokenizer()  # the build's vocabulary is read back with the index
        retriever, self.doc_ids = load_index(folder, self.tokenizer, self.backend)
        self.retriever: Any = retriever  # None for a corpus without a term: `search` never reads it
        self.k = min(self.params.depth, len(self.doc_ids))
        self.empty_queries: set[str] = set()
        build_s = float(meta.get("seconds", 0.0))
        docs = int(meta.get("docs", len(self.ctx.dataset.docs)))
        self.costs = {
            "docs": docs,
            "vocabulary": meta.get("vocabulary"),
            "build_s": build_s,
            "docs_per_s": docs / build_s if build_s > 0 else None,
            "index_bytes": meta.get("index_bytes"),
            "cached": cached,
            "backend": self.backend,
        }
        if meta.get("empty_docs"):
            self.costs["empty_docs"] = meta["empty_docs"]

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        # The stream is what `tokenize` collects; reading it directly skips the (disabled) tqdm
        # bar `tokenize` builds on every call, which costs more than tokenising a query.
        with self.part("encode"):
            stream = self.tokenizer.tokenize(
                [q.text for q in queries], update_vocab=False, return_as="stream", allow_empty=False
            )
            tokens = list(stream)
        # A query with no indexed term (only stopwords, or words no document has) gets an empty
        # ranking, as in Lucene; it is counted in the costs so that the report can say so.
        asked = [qi for qi, query_tokens in enumerate(tokens) if query_tokens]
        if len(asked) < len(queries):
            self.empty_queries.update(q.query_id for qi, q in enumerate(queries) if not tokens[qi])
            self.costs["empty_queries"] = len(self.empty_queries)
        out: dict[str, list[ScoredDoc] | Ranking] = {q.query_id: [] for q in queries}
        if not asked or not self.doc_ids:
            return Run.deferred(out)
        # n_threads=0: bm25s maps over the queries in this thread; any other value starts a
        # thread pool on every call, which costs more than a query's retrieval.
        with self.part("search"):
            ask = min(self.k + TIE_SLACK, len(self.doc_ids))
            docs, scores = self.retriever.retrieve(
                [tokens[qi] for qi in asked], k=ask, show_progress=False, n_threads=0
            )
            for row, qi in enumerate(asked):
                hits = docs[row], scores[row]
                kth = scores[row][self.k - 1]
                if ask < len(self.doc_ids) and kth > 0 and scores[row][-1] == kth:
                    hits = self._at_least(tokens[qi], kth, ask)
                out[queries[qi].query_id] = partial(self._hits, *hits)
        # The arrays are the search's answer; records are built when the run is read.
        return Run.deferred(out)

    def _at_least(self, token_ids: list[int], score: Any, asked: int) -> tuple[Any, Any]:
        """Every document scoring `score` or more: the ties at the cut-off ran past the `asked`
        hits `retrieve` returned, so it is asked again for twice as many until the last one
        scores less (or every document is returned). The same `retrieve` call keeps the work
        on the backend's compiled path."""
        n = len(self.doc_ids)
        while True:
            asked = min(2 * asked, n)
            docs, scores = self.retriever.retrieve([token_ids], k=asked, show_progress=False, n_threads=0)
            if asked == n or scores[0][-1] < score:
                return docs[0], scores[0]

    def _hits(self, docs: Any, scores: Any) -> tuple[ScoredDoc, ...]:
        """One query's `depth` best hits as records, in trec_eval order: the ties at the cut-off
        are settled by that order (doc id descending), never by how a backend's top-k selection
        happened to visit them, so numpy and numba give the same run. Lucene returns nothing for
        a document that matches no query term; bm25s returns zero-scored filler up to k, which
        is dropped so that runs are comparable."""
        keep = scores > 0
        doc_ids = self.doc_ids
        # tolist(): the float32 scores become the same Python floats float() gives, in one call.
        hits = map(ScoredDoc, map(doc_ids.__getitem__, docs[keep].tolist()), scores[keep].tolist())
        return trec_order(hits)[: self.k]
