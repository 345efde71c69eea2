"""BM25 through bm25s, with PyStemmer stemming and a choice of fields."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.cache import ArtefactStore, make_key
from harness.errors import SystemConfigError
from harness.records import Doc, Query, Ranking, Run, ScoredDoc
from harness.systems import STAGES, RetrieverParams, Stage
from harness.systems._bm25_index import FORMAT, pack, unpack
from harness.systems._indexing import TextField, corpus_docs, corpus_fingerprint, doc_text


class BM25Params(RetrieverParams):
    k1: float = Field(default=0.9, ge=0)
    b: float = Field(default=0.4, ge=0, le=1)
    method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    delta: float = Field(default=0.5, description="BM25L / BM25+ only")
    stemmer: str | None = Field(default="english", description="PyStemmer algorithm, or null")
    stopwords: str | list[str] | None = Field(default="en", description="bm25s list name, a list, or null")
    fields: list[TextField] = Field(default=["title", "text"], min_length=1)
    lower: bool = True


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

    def _build(self, docs: Sequence[Doc]) -> tuple[bytes, dict[str, Any]]:
        """Tokenise and index the corpus; the packed index and what it cost."""
        import bm25s
        from tqdm import tqdm

        t0 = time.perf_counter()
        # allow_empty=False: bm25s would give an empty text a one-token placeholder, so an empty
        # document would count as length 1 and match every query that tokenises to nothing.
        # The stream is what `tokenize` itself iterates; reading it here lets the harness draw
        # the step's one bar (bm25s's own bars stay off: they would nest in the cell's bar).
        stream = self.tokenizer.tokenize(
            [doc_text(d, self.params.fields) for d in docs], update_vocab=True, return_as="stream", allow_empty=False
        )
        bar = tqdm(stream, total=len(docs), desc="bm25 tokenise", unit="doc", leave=False, disable=not self.progress)
        tokens = list(bar)
        # As Lucene does (CollectionStatistics.docCount), a document without a single term after
        # tokenisation is left out of N and the average length, and can never be retrieved; so
        # adding empty documents to a corpus changes no score.
        kept = [i for i, doc_tokens in enumerate(tokens) if doc_tokens]
        self.doc_ids = [docs[i].doc_id for i in kept]
        self.retriever = bm25s.BM25(
            k1=self.params.k1, b=self.params.b, method=self.params.method, delta=self.params.delta
        )
        if kept:
            self.retriever.index(
                ([tokens[i] for i in kept], self.tokenizer.get_vocab_dict()),
                create_empty_token=False,
                show_progress=False,
            )
        seconds = time.perf_counter() - t0
        # bm25s keeps the index as a CSC matrix of precomputed scores; its arrays are the index.
        arrays = getattr(self.retriever, "scores", {}) or {}
        meta = {
            "seconds": seconds,
            "docs": len(docs),
            "vocabulary": len(self.tokenizer.get_vocab_dict()),
            "index_bytes": sum(int(getattr(a, "nbytes", 0)) for a in arrays.values()),
            "empty_docs": len(docs) - len(kept),
        }
        return pack(self.retriever, self.tokenizer, self.doc_ids), meta

    def prepare(self) -> None:
        docs = corpus_docs(self.ctx.dataset, "BM25")
        self.tokenizer = self._tokenizer()
        blob, meta, cached = ArtefactStore().get_or_compute("bm25-index", self._index_key(), lambda: self._build(docs))
        if cached:  # the tokenizer takes the stored vocabulary: queries map to the same ids
            retriever, self.doc_ids = unpack(blob, self.tokenizer)
            self.retriever = retriever  # None for a corpus without a term: `search` never reads it
        self.k = min(self.params.depth, len(self.doc_ids))
        self.empty_queries: set[str] = set()
        build_s = float(meta.get("seconds", 0.0))
        self.costs = {
            "docs": len(docs),
            "vocabulary": meta.get("vocabulary"),
            "build_s": build_s,
            "docs_per_s": len(docs) / build_s if build_s > 0 else None,
            "index_bytes": meta.get("index_bytes"),
            "cached": cached,
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
            docs, scores = self.retriever.retrieve(
                [tokens[qi] for qi in asked], k=self.k, show_progress=False, n_threads=0
            )
        for row, qi in enumerate(asked):
            out[queries[qi].query_id] = partial(self._hits, docs[row], scores[row])
        # The arrays are the search's answer; records are built when the run is read.
        return Run.deferred(out)

    def _hits(self, docs: Any, scores: Any) -> list[ScoredDoc]:
        """One query's hits as records. Lucene returns nothing for a document that matches no
        query term; bm25s returns zero-scored filler up to k, which is dropped so that runs are
        comparable."""
        keep = scores > 0
        doc_ids = self.doc_ids
        # tolist(): the float32 scores become the same Python floats float() gives, in one call.
        return list(map(ScoredDoc, map(doc_ids.__getitem__, docs[keep].tolist()), scores[keep].tolist()))
