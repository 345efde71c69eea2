"""TREC formats: topics (TSV), runs (6 columns); qrels live in harness.data.qrels.

Runs are read as trec_eval 10 reads them: columns split on ASCII whitespace, lines whose first
non-blank character is `#` skipped as comments, blank lines skipped, the rank column ignored,
tokens after the sixth ignored (trec_eval reserves them, see its results.trunc).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from harness.data.fields import ASCII_SPACE, check_id, parse_score, quote, split_columns
from harness.data.qrels import read_qrels
from harness.data.textio import read_lines
from harness.errors import DataError
from harness.fsutil import ANYWHERE, Destination, atomic_write_bytes, gzip_bytes
from harness.records import Query, Run, ScoredDoc

__all__ = ["check_id", "read_qrels", "read_run", "read_topics", "run_to_text", "write_run"]


def read_topics(path: Path) -> dict[str, Query]:
    """`qid<TAB>text` per line, as MS MARCO and Anserini topic TSVs are written."""
    queries: dict[str, Query] = {}
    first_line: dict[str, int] = {}
    for lineno, line in read_lines(path, what="topics"):
        if not line.strip():
            continue
        parts = line.split("\t", 1)
        if len(parts) != 2 or not parts[0].strip():
            raise DataError(
                "topics line needs 2 tab-separated columns (query id, text)",
                path=path,
                line=lineno,
            )
        qid, text = parts[0].strip(), parts[1].strip()
        check_id(qid, "query", path, lineno)
        add_query(queries, first_line, qid, text, path, lineno)
    if not queries:
        raise DataError("topics file has no queries", path=path, hint="is it the right file?")
    return queries


def add_query(
    queries: dict[str, Query], first_line: dict[str, int], qid: str, text: str, path: Path, lineno: int
) -> None:
    """Add one query read at `lineno`; empty text or an id seen before is an error naming the
    line (and the first line of the id). Topics files and queries.jsonl share this rule."""
    if not text:
        raise DataError(f"query {quote(qid)} has no text", path=path, line=lineno)
    if qid in queries:
        raise duplicate_id("query", qid, first_line[qid], path, lineno)
    queries[qid] = Query(qid, text)
    first_line[qid] = lineno


def duplicate_id(what: str, value: str, first: int, path: Path, lineno: int) -> DataError:
    return DataError(
        f"{what} id {quote(value)} appears twice (first on line {first})",
        path=path,
        line=lineno,
        hint=f"remove or rename one of the two; the harness does not guess which {what} is meant",
    )


def read_run(path: Path, *, stream: BinaryIO | None = None) -> Run:
    """A 6-column TREC run `qid Q0 docid rank score tag` (see the module docstring). Scores
    must be finite ASCII numbers and a document may appear once per query. `stream`: read it
    instead of opening `path`, which then only names it in errors."""
    by_query: dict[str, dict[str, tuple[float, int]]] = {}
    for lineno, line in read_lines(path, what="run", stream=stream):
        stripped = line.lstrip(ASCII_SPACE)
        if not stripped or stripped.startswith("#"):
            continue
        cols = split_columns(line)
        if len(cols) < 6:
            raise DataError(
                f"run line has {len(cols)} columns, expected 6 (qid Q0 docid rank score tag)",
                path=path,
                line=lineno,
            )
        qid, _, did, _, score_text = cols[:5]
        if qid not in by_query:  # a run repeats its query ids on every line; check each once
            check_id(qid, "query", path, lineno)
            by_query[qid] = {}
        check_id(did, "document", path, lineno)
        score = parse_score(score_text, path, lineno)
        docs = by_query[qid]
        if did in docs:
            raise DataError(
                f"document {quote(did)} appears twice for query {quote(qid)} (first on line {docs[did][1]})",
                path=path,
                line=lineno,
                hint="a run ranks each document once per query; trec_eval refuses it too",
            )
        docs[did] = (score, lineno)
    if not by_query:
        raise DataError("run file is empty", path=path)
    return Run({q: [ScoredDoc(d, s) for d, (s, _) in docs.items()] for q, docs in by_query.items()})


def format_score(score: float) -> str:
    # repr is the shortest string that round-trips, so the file re-reads to the same floats.
    return repr(float(score))


def run_to_text(run: Mapping[str, tuple[ScoredDoc, ...]], tag: str, query_order: list[str]) -> str:
    """Deterministic TREC text: queries in the given order, docs in trec_eval order."""
    tag = "".join(tag.split()) or "harness"
    out: list[str] = []
    for qid in query_order:
        for rank, doc in enumerate(run.get(qid, ()), start=1):
            out.append(f"{qid} Q0 {doc.doc_id} {rank} {format_score(doc.score)} {tag}\n")
    return "".join(out)


def write_run(
    run: Run, path: Path, tag: str, query_order: list[str] | None = None, dest: Destination = ANYWHERE
) -> None:
    """Write atomically; gzip when the name ends in .gz (with a fixed header, so the
    bytes depend on the content alone). `dest` words the error if it cannot be written."""
    order = query_order if query_order is not None else sorted(run)
    data = run_to_text(run, tag, order).encode("utf-8")
    atomic_write_bytes(path, gzip_bytes(data) if path.suffix == ".gz" else data, dest)
