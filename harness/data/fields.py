"""Columns of TREC-format lines as trec_eval reads them: ids, relevance labels, scores.

trec_eval splits a line on C `isspace` (space, tab, newline, vertical tab, form feed, carriage
return), reads labels with `atol` and scores with `atof`. Python's `str.split()`, `int()` and
`float()` are more generous (Unicode spaces and digits, `1_000`, `inf`, `nan`), which would
make the harness read a file differently from trec_eval without saying so. So columns are split
on ASCII whitespace only, and numbers must be plain ASCII notation; anything else is refused
with the file and line.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from harness.errors import DataError

# C isspace in the "C" locale, the separators trec_eval splits on.
ASCII_SPACE = " \t\n\v\f\r"
_SPLIT = re.compile(f"[{re.escape(ASCII_SPACE)}]+")
# str.split() also splits on these ASCII "information separators" (and on non-ASCII spaces).
_INFO_SEPARATORS = re.compile("[\x1c-\x1f]")
# Whitespace (any, Unicode included) or a control character: never part of an id.
_BAD_ID_CHAR = re.compile(r"[\s\x00-\x1f\x7f]")

# Labels: what atol reads in full, optionally with a fractional part of zeros ("2.0" is 2 for
# atol and for us). "1e1" or "1.5" are refused: atol would silently read 1.
_LABEL = re.compile(r"[+-]?[0-9]+(?:\.0*)?", re.ASCII)
# Graded scales in use stay in single digits; the bound keeps every gain sum far inside the
# 32-bit integers of trec_eval's code (pytrec_eval scores every query 0, or crashes, on labels
# beyond 2**31).
MAX_LABEL = 1000
_NOT_FINITE = {"inf", "infinity", "nan"}


def split_columns(line: str) -> list[str]:
    """Whitespace-separated columns, split where trec_eval splits them and nowhere else."""
    if line.isascii() and _INFO_SEPARATORS.search(line) is None:
        return line.split()  # the same split here, and several times faster
    stripped = line.strip(ASCII_SPACE)
    return _SPLIT.split(stripped) if stripped else []


def quote(value: str, limit: int = 40) -> str:
    """A value for an error message: quoted, escaped, and short (one line, whatever it holds)."""
    shown = value if len(value) <= limit else value[:limit] + "..."
    return repr(shown)


def check_id(value: str, what: str, path: Path, lineno: int) -> None:
    """TREC files separate columns by whitespace, so an id may not contain any (Unicode spaces
    included); a control character is refused too (trec_eval's C code ends an id at NUL, so two
    ids could match as one); a query id starting with '#' would read as a comment line."""
    bad = _BAD_ID_CHAR.search(value) if value else None
    control = bad is not None and bad.group() not in ASCII_SPACE and (bad.group() < " " or bad.group() == "\x7f")
    if not value or (bad is not None and not control):
        raise DataError(
            f"{what} id {quote(value)} is empty or contains whitespace",
            path=path,
            line=lineno,
            hint="TREC run and qrels files cannot represent it; rewrite the ids",
        )
    if bad is not None:
        raise DataError(
            f"{what} id {quote(value)} contains a control character",
            path=path,
            line=lineno,
            hint="an invisible character in an id is a mistake, and trec_eval's C code cuts ids at NUL; "
            "rewrite the ids",
        )
    if what == "query" and value.startswith("#"):
        raise DataError(
            f"query id {quote(value)} starts with '#'",
            path=path,
            line=lineno,
            hint="trec_eval reads a TREC line starting with '#' as a comment; rename the query",
        )


def parse_label(value: str, path: Path, lineno: int) -> int:
    """A relevance label as trec_eval reads it: ASCII digits with an optional sign."""
    if not _LABEL.fullmatch(value):
        raise DataError(
            f"relevance {quote(value)} is not an integer",
            path=path,
            line=lineno,
            hint="write labels as plain ASCII integers such as 0, 1, 2 (trec_eval reads nothing else)",
        )
    label = int(value.split(".", 1)[0])
    if abs(label) > MAX_LABEL:
        raise DataError(
            f"relevance {label} is outside -{MAX_LABEL}..{MAX_LABEL}",
            path=path,
            line=lineno,
            hint="labels are small graded levels (e.g. 0-3); is this column a score or a doc id?",
        )
    return label


def parse_score(value: str, path: Path, lineno: int) -> float:
    """A run score as trec_eval reads it: ASCII decimal or exponent notation, finite.

    On an ASCII string without `_`, Python's float() accepts exactly that notation plus the
    words inf/infinity/nan, which the finiteness check then refuses.
    """
    try:
        score = float(value)
    except ValueError:
        score = None
    if score is None or not value.isascii() or "_" in value:
        raise DataError(
            f"score {quote(value)} is not a number",
            path=path,
            line=lineno,
            hint="write scores in ASCII decimal or exponent notation, e.g. 12.5 or -1.25e-3",
        )
    if not math.isfinite(score):
        word = value.lstrip("+-").lower() in _NOT_FINITE
        raise DataError(
            f"score {quote(value)} is not finite" + ("" if word else " (beyond the range of a double)"),
            path=path,
            line=lineno,
            hint="NaN and infinite scores cannot be ranked" if word else "rescale the scores",
        )
    return score
