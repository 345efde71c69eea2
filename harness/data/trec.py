"""TREC formats: topics (TSV), qrels (4 columns, or BEIR's 3-column TSV), runs (6 columns)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from harness.data.textio import read_lines
from harness.errors import DataError
from harness.fsutil import atomic_write_bytes, gzip_bytes
from harness.records import Query, Run, ScoredDoc


def check_id(value: str, what: str, path: Path, lineno: int) -> None:
    """TREC files separate columns by whitespace, so an id may not contain any."""
    if not value or any(ch.isspace() for ch in value):
        raise DataError(
            f"{what} id {value!r} is empty or contains whitespace",
            path=path,
            line=lineno,
            hint="TREC run and qrels files cannot represent it; rewrite the ids",
        )


def read_topics(path: Path) -> dict[str, Query]:
    """`qid<TAB>text` per line, as MS MARCO and Anserini topic TSVs are written."""
    queries: dict[str, Query] = {}
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
        if not text:
            raise DataError(f"query '{qid}' has no text", path=path, line=lineno)
        if qid in queries:
            raise DataError(f"query id '{qid}' appears twice", path=path, line=lineno)
        queries[qid] = Query(qid, text)
    if not queries:
        raise DataError("topics file has no queries", path=path, hint="is it the right file?")
    return queries


def _parse_rel(value: str, path: Path, lineno: int) -> int:
    try:
        return int(value)
    except ValueError:
        try:
            f = float(value)
        except ValueError:
            f = math.nan
        if math.isfinite(f) and f.is_integer():
            return int(f)
        raise DataError(f"relevance '{value}' is not an integer", path=path, line=lineno) from None


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """TREC qrels (`qid iter docid rel`, whitespace-separated) or BEIR TSV
    (`query-id<TAB>corpus-id<TAB>score` with a header line)."""
    qrels: dict[str, dict[str, int]] = {}
    beir: bool | None = None
    for lineno, line in read_lines(path, what="qrels"):
        if not line.strip():
            continue
        if beir is None:
            beir = "\t" in line and len(line.split("\t")) == 3
            if beir and line.lower().startswith("query-id"):
                continue
        cols = line.split("\t") if beir else line.split()
        want = 3 if beir else 4
        if len(cols) != want:
            layout = "query-id, corpus-id, score" if beir else "qid, iteration, docid, relevance"
            raise DataError(
                f"qrels line has {len(cols)} columns, expected {want} ({layout})",
                path=path,
                line=lineno,
            )
        qid, did, rel = (cols[0], cols[1], cols[2]) if beir else (cols[0], cols[2], cols[3])
        qid, did = qid.strip(), did.strip()
        if not qid or not did:
            raise DataError("qrels line has an empty id", path=path, line=lineno)
        qrels.setdefault(qid, {})[did] = _parse_rel(rel.strip(), path, lineno)
    if not qrels:
        raise DataError("qrels file has no judgments", path=path)
    return qrels


def read_run(path: Path) -> Run:
    """A 6-column TREC run `qid Q0 docid rank score tag`. The rank column is ignored, as
    trec_eval ignores it; scores must be finite and a document may appear once per query.
    Tokens after the sixth are ignored, as trec_eval reserves them (see its results.trunc)."""
    by_query: dict[str, dict[str, float]] = {}
    for lineno, line in read_lines(path, what="run"):
        if not line.strip():
            continue
        cols = line.split()
        if len(cols) < 6:
            raise DataError(
                f"run line has {len(cols)} columns, expected 6 (qid Q0 docid rank score tag)",
                path=path,
                line=lineno,
            )
        qid, _, did, _, score_text = cols[:5]
        try:
            score = float(score_text)
        except ValueError:
            raise DataError(f"score '{score_text}' is not a number", path=path, line=lineno) from None
        if not math.isfinite(score):
            raise DataError(
                f"score '{score_text}' is not finite",
                path=path,
                line=lineno,
                hint="NaN and infinite scores cannot be ranked",
            )
        docs = by_query.setdefault(qid, {})
        if did in docs:
            raise DataError(f"document '{did}' appears twice for query '{qid}'", path=path, line=lineno)
        docs[did] = score
    if not by_query:
        raise DataError("run file is empty", path=path)
    return Run({q: [ScoredDoc(d, s) for d, s in docs.items()] for q, docs in by_query.items()})


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


def write_run(run: Run, path: Path, tag: str, query_order: list[str] | None = None) -> None:
    """Write atomically; gzip when the name ends in .gz (with a fixed header, so the
    bytes depend on the content alone)."""
    order = query_order if query_order is not None else sorted(run)
    data = run_to_text(run, tag, order).encode("utf-8")
    atomic_write_bytes(path, gzip_bytes(data) if path.suffix == ".gz" else data)
