"""Click logs: one row per result shown, as TSV with a header (`.csv`: comma-separated) or
Parquet. Columns (others are ignored): `session` (one impression of a result list), `query`,
`document`, `position` (1 = top) and `clicked` (0 or 1). A session shows one query, each position once.
Every malformed row is a DataError naming the file, the line (TSV; the row for Parquet) and
the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

COLUMNS = ("session", "query", "document", "position", "clicked")
_FIX = "a click log has the columns session, query, document, position (1 = top) and clicked (0/1)"


@dataclass(frozen=True)
class ClickLog:
    """Rows as numpy columns, sorted by session then position."""

    session: npt.NDArray[np.int64]
    """Session number (0 ..), in order of first appearance."""
    query: npt.NDArray[np.int64]
    """Index into `queries`."""
    document: npt.NDArray[np.int64]
    """Index into `documents`."""
    position: npt.NDArray[np.int64]
    clicked: npt.NDArray[np.bool_]
    sessions: int
    queries: list[str]
    documents: list[str]


def _delimiter(path: Path) -> str:
    """Tab, or a comma for a `.csv` file; a tab-less header with commas in a TSV is refused."""
    if path.suffix.lower() == ".csv":
        return ","
    with path.open("rb") as f:
        header = f.readline()
    if b"\t" not in header and b"," in header:
        raise DataError(
            "the click log's header has commas and no tabs", path=path, line=1, hint="name a comma-separated log *.csv"
        )
    return "\t"


def _bad_line(path: Path, delimiter: str) -> int | None:
    """The first line whose field count differs from the header's (pyarrow names no line)."""
    with path.open("r", encoding="utf-8", errors="replace") as f:
        width = len(f.readline().rstrip("\r\n").split(delimiter))
        for lineno, line in enumerate(f, start=2):
            if line.strip() and len(line.rstrip("\r\n").split(delimiter)) != width:
                return lineno
    return None


def _table(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError("click log not found", path=path, hint=_FIX)
    delimiter = "\t"
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path)
        delimiter = _delimiter(path)
        convert = pacsv.ConvertOptions(column_types=dict.fromkeys(COLUMNS, pa.string()))
        return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter), convert_options=convert)
    except (pa.ArrowInvalid, OSError) as exc:
        line = _bad_line(path, delimiter) if path.suffix != ".parquet" and path.is_file() else None
        message = str(exc).splitlines()[0].split(":", 1)[0] if line else str(exc).splitlines()[0]
        raise DataError(f"cannot read the click log ({message})", path=path, line=line, hint=_FIX) from None


def _where(path: Path, row: int) -> dict[str, Any]:
    """Text rows are lines (after the header); Parquet rows are numbered from 1."""
    return {"path": path, "line": row + 2} if path.suffix != ".parquet" else {"path": f"{path} (row {row + 1})"}


def _integers(col: Any, name: str, path: Path) -> npt.NDArray[np.int64]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        empty = np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        raise DataError(f"empty {name}", **_where(path, int(np.argmax(empty))), hint=_FIX)
    if pa.types.is_integer(col.type) or pa.types.is_boolean(col.type):
        return np.asarray(col.cast(pa.int64()).to_numpy(), dtype=np.int64)
    if not pa.types.is_string(col.type):
        raise DataError(f"column {name} holds {col.type}, not whole numbers", path=path, hint=_FIX)
    ok = np.asarray(pc.utf8_is_digit(col).to_numpy(zero_copy_only=False), dtype=bool)
    if not ok.all():
        row = int(np.argmin(ok))
        raise DataError(
            f"{name} {col[row].as_py()!r} is not a whole number of 0 or more", **_where(path, row), hint=_FIX
        )
    return np.asarray(pc.cast(col, pa.int64()).to_numpy(), dtype=np.int64)


def _codes(col: Any) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Integer codes of a column, in order of first appearance, and the values they stand for."""
    import numpy as np

    encoded = col.cast("string").dictionary_encode()
    return np.asarray(encoded.indices.to_numpy(), dtype=np.int64), encoded.dictionary.to_pylist()


def read_click_log(path: Path) -> ClickLog:
    import numpy as np

    table = _table(path)
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(f"click log has no column {', '.join(missing)}", path=path, hint=_FIX)
    if table.num_rows == 0:
        raise DataError("click log has no rows", path=path, hint=_FIX)
    cols = {c: table.column(c).combine_chunks() for c in COLUMNS}
    for c in ("session", "query", "document"):
        empty = np.asarray(cols[c].is_null().to_numpy(zero_copy_only=False), dtype=bool)
        empty |= np.asarray(cols[c].cast("string").fill_null("x").to_numpy(zero_copy_only=False) == "", dtype=bool)
        if empty.any():
            raise DataError(f"empty {c}", **_where(path, int(np.argmax(empty))), hint=_FIX)
    position = _integers(cols["position"], "position", path)
    clicked = _integers(cols["clicked"], "clicked", path)
    for bad, what in (
        (position < 1, "position must be 1 or more"),
        ((clicked < 0) | (clicked > 1), "clicked must be 0 or 1"),
    ):
        if bad.any():
            raise DataError(what, **_where(path, int(np.argmax(bad))), hint=_FIX)
    session, _ = _codes(cols["session"])
    query, queries = _codes(cols["query"])
    document, documents = _codes(cols["document"])
    _check_sessions(path, session, query, position)
    order = np.lexsort((position, session))
    return ClickLog(
        session=session[order],
        query=query[order],
        document=document[order],
        position=position[order],
        clicked=clicked[order].astype(bool),
        sessions=int(session.max()) + 1,
        queries=queries,
        documents=documents,
    )


def _check_sessions(path: Path, session: Any, query: Any, position: Any) -> None:
    import numpy as np

    order = np.lexsort((position, session))
    s, q, p = session[order], query[order], position[order]
    same = s[1:] == s[:-1]
    for bad, what in (
        (same & (p[1:] == p[:-1]), "shows position {} twice"),
        (same & (q[1:] != q[:-1]), "mixes queries"),
    ):
        if bad.any():
            row = int(order[int(np.argmax(bad)) + 1])
            raise DataError(
                f"session {what.format(position[row])}",
                **_where(path, row),
                hint="one query per session, each position once",
            )
