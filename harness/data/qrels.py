"""Relevance judgments: TREC qrels (`qid iter docid rel`) or BEIR TSV (`query-id<TAB>corpus-id<TAB>score`).

The format is decided by the first line that is not blank or a comment, never guessed from tabs:

- the BEIR header `query-id<TAB>corpus-id<TAB>score` means BEIR TSV (tab-separated, 3 columns);
- 4 whitespace-separated columns (any mix of spaces and tabs, as trec_eval splits) mean TREC;
- anything else is refused: a headerless 3-column file could be either, and a guess that is
  wrong shifts every column.

As trec_eval 10 does, TREC qrels skip lines that begin with `#` (a `#` inside a doc id is part
of the id). A `#` after leading whitespace is refused: trec_eval would read that line as a
judgment. Blank lines are skipped (trec_eval refuses them; skipping changes no judgment).

Judging the same (query, doc) twice with different labels is refused, naming both lines. A
query judged only with negative labels is refused at its first line: pytrec_eval (trec_eval's
code) crashes the process on it (a segmentation fault, e.g. with bpref and Rprec together). The
same label twice is accepted and kept once: trec_eval refuses any repeated judgment ("duplicate
docs"), but an exact repeat has one meaning, and merged qrels files often contain some.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from harness.data.fields import ASCII_SPACE, check_id, parse_label, quote, split_columns
from harness.data.textio import read_lines
from harness.errors import DataError

BEIR_HEADER = ("query-id", "corpus-id", "score")
_TREC_LAYOUT = "qid iteration docid relevance"
_BEIR_LAYOUT = "query-id<TAB>corpus-id<TAB>score"


def _sniff(line: str, path: Path, lineno: int) -> str:
    """'beir-header' or 'trec' for the first content line, or a DataError."""
    tabbed = [c.strip(ASCII_SPACE).lower() for c in line.split("\t")]
    if tuple(tabbed) == BEIR_HEADER:
        return "beir-header"
    if tuple(split_columns(line.lower())) == BEIR_HEADER:
        raise DataError(
            "qrels header names the BEIR columns but is not tab-separated",
            path=path,
            line=lineno,
            hint=f"separate the header and every line by single tabs: {_BEIR_LAYOUT}",
        )
    cols = split_columns(line)
    if len(cols) == 4:
        return "trec"
    raise DataError(
        f"qrels format not recognised: the first line has {len(cols)} whitespace-separated columns",
        path=path,
        line=lineno,
        hint=f"TREC qrels have 4 columns ({_TREC_LAYOUT}); BEIR TSV starts with the header {_BEIR_LAYOUT}",
    )


def _trec_row(line: str, path: Path, lineno: int) -> tuple[str, str, str]:
    if line.lstrip(ASCII_SPACE).startswith("#"):
        raise DataError(
            "indented '#' line in TREC qrels",
            path=path,
            line=lineno,
            hint="trec_eval 10 skips only lines that begin with '#' and reads this one as a judgment; "
            "remove the indentation or the line",
        )
    cols = split_columns(line)
    if len(cols) != 4:
        raise DataError(f"qrels line has {len(cols)} columns, expected 4 ({_TREC_LAYOUT})", path=path, line=lineno)
    return cols[0], cols[2], cols[3]


def _beir_row(line: str, path: Path, lineno: int) -> tuple[str, str, str]:
    cols = [c.strip(ASCII_SPACE) for c in line.split("\t")]
    if len(cols) != 3:
        raise DataError(
            f"qrels line has {len(cols)} tab-separated columns, expected 3 ({_BEIR_LAYOUT})",
            path=path,
            line=lineno,
            hint="the file starts with the BEIR header, so every line must be BEIR TSV",
        )
    return cols[0], cols[1], cols[2]


def read_qrels(path: Path, *, stream: BinaryIO | None = None) -> dict[str, dict[str, int]]:
    """TREC qrels or BEIR TSV (see the module docstring). `stream`: read it instead of opening
    `path`, which then only names it in errors."""
    qrels: dict[str, dict[str, int]] = {}
    first_line: dict[tuple[str, str], int] = {}
    layout: str | None = None
    for lineno, line in read_lines(path, what="qrels", stream=stream):
        if not line.strip(ASCII_SPACE) or (layout != "beir" and line.startswith("#")):
            continue
        if layout is None:
            layout = _sniff(line, path, lineno)
            if layout == "beir-header":
                layout = "beir"
                continue
        qid, did, rel_text = _beir_row(line, path, lineno) if layout == "beir" else _trec_row(line, path, lineno)
        check_id(qid, "query", path, lineno)
        check_id(did, "document", path, lineno)
        rel = parse_label(rel_text, path, lineno)
        judged = qrels.setdefault(qid, {})
        if did in judged:
            _check_same_label(qid, did, judged[did], rel, first_line[(qid, did)], path, lineno)
            continue
        judged[did] = rel
        first_line[(qid, did)] = lineno
    if not qrels:
        raise DataError("qrels file has no judgments", path=path)
    for qid, judged in qrels.items():
        if all(rel < 0 for rel in judged.values()):
            first = min(first_line[(qid, did)] for did in judged)
            raise DataError(
                f"query {quote(qid)} is judged only with negative labels: trec_eval's code "
                "(pytrec_eval) crashes on such a query",
                path=path,
                line=first,
                hint="drop its lines, or give one of its documents a label of 0 or more",
            )
    return qrels


def _check_same_label(qid: str, did: str, old: int, new: int, first: int, path: Path, lineno: int) -> None:
    if old != new:
        raise DataError(
            f"query {quote(qid)} judges document {quote(did)} twice with different labels "
            f"({old} on line {first}, {new} here)",
            path=path,
            line=lineno,
            hint="keep the line with the right label; trec_eval refuses repeated judgments too",
        )
