"""TREC-format files: topics TSV + qrels, with an optional BEIR-style corpus file."""

from __future__ import annotations

from pathlib import Path

from harness.data.beir_files import open_corpus
from harness.data.ref import DatasetRef
from harness.data.sources import SOURCES, Loaded
from harness.data.trec import read_qrels, read_topics


class TrecFiles:
    priority = 5

    def matches(self, ref: DatasetRef, data_root: Path) -> bool:
        return bool(ref.topics and ref.qrels)

    def load(self, ref: DatasetRef, data_root: Path) -> Loaded:
        # matches() was checked by the resolver
        assert ref.topics is not None
        assert ref.qrels is not None
        queries = read_topics(Path(ref.topics))
        qrels = read_qrels(Path(ref.qrels))
        docs = open_corpus(Path(ref.corpus)) if ref.corpus else {}
        return Loaded(docs, queries, qrels, f"{ref.topics}+{ref.qrels}")


SOURCES.register("trec")(TrecFiles())
