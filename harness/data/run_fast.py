"""Run files read straight into a `RunTable`, for the evaluator: Arrow's CSV reader on every
core, no Python object per line.

The fast path takes the layout nearly every tool writes: ASCII, one line per document, six
columns separated by single spaces, `\\n` line ends. Arrow splits the columns and parses the
scores; one pass over the bytes then counts the bytes outside printable ASCII and the newlines,
which must be exactly the lines' 5 spaces and 1 newline each, so ids need no further check (no
whitespace, no control character, as `harness.data.fields.check_id` requires); a query id
starting with `#`, an empty column and a non-finite score are refused afterwards. Arrow's float
parser is correctly rounded, as Python's float() is; the forms the strict score parser refuses
(`1_0`, hex, inf, nan) Arrow either refuses too or reads as non-finite, so they reach the strict
reader (tests/unit/test_run_fast.py lists the forms checked).

Anything else (tabs, CRLF, comments, blank lines, extra columns, non-ASCII, a bad score, a
repeated document, a corrupt gzip) goes to the strict line reader `harness.data.trec.read_run`
over the same bytes: it reads the unusual file exactly as before, or raises its error with the
file and line. The input is read once, so stdin and pipes work as files do.
"""

from __future__ import annotations

import gzip
import io
import mmap
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from harness.data.trec import read_run
from harness.evaluation.run_table import RunTable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    Ints = npt.NDArray[np.int64]

_GZIP_MAGIC = b"\x1f\x8b"
_NAMES = ("qid", "q0", "docid", "rank", "score", "tag")


def read_run_table(path: Path, *, stream: BinaryIO | None = None) -> RunTable:
    """The run at `path` (or on `stream`, which `path` then names) as columns; the same rows,
    scores and errors as `read_run`."""
    try:
        buf, size, raw = _load(path, stream)
    except OSError:  # not found, a folder, unreadable: the strict reader words the error
        return RunTable.of_run(read_run(path, stream=stream))
    table = _fast(buf, size)
    if table is None:  # the unusual or the wrong: read strictly, from the bytes already read
        again = io.BytesIO(raw if raw is not None else buf[:size].tobytes())
        table = RunTable.of_run(read_run(path, stream=again))
    return table


def _load(path: Path, stream: BinaryIO | None) -> tuple[npt.NDArray[np.uint8], int, bytes | None]:
    """(text, text size, the raw bytes when not a plain file). A regular file is mapped into
    memory; other text is zero-padded for word loads."""
    import numpy as np

    raw: bytes | None = None
    if stream is None and path.is_file() and path.stat().st_size > 0:
        # Mapped, not read: copying 260 MB into fresh memory cost 1.4 s of system time on a
        # 7M-line run, the mapping 0.06 s (benchmarks/eval_speed.py). The array is read-only;
        # words_at needs no zero padding after it.
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        buf = np.frombuffer(mapped, dtype=np.uint8)
        if buf[:2].tobytes() != _GZIP_MAGIC:
            return buf, len(buf), None
        raw = buf.tobytes()
    elif stream is not None:
        raw = stream.read()
    else:
        raw = path.read_bytes()  # a pipe named by path (/dev/stdin, process substitution)
    data = _text(raw)
    if data is None:
        return np.zeros(8, dtype=np.uint8), 0, raw
    buf = np.zeros(len(data) + 24 - len(data) % 8, dtype=np.uint8)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return buf, len(data), raw


def _text(raw: bytes) -> bytes | None:
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error):
        return None  # the strict reader names the line where the stream breaks


def _fast(buf: npt.NDArray[np.uint8], size: int) -> RunTable | None:
    """The run in buf[:size] as a table, or None unless every line is 6 non-empty columns of
    printable ASCII separated by single spaces and ended by `\\n`, with finite scores, no
    comment line and no document twice for a query."""
    import numpy as np

    if size == 0:
        return None
    table = _parse(buf[:size])
    if table is None:
        return None
    rows = table.num_rows
    open_end = int(buf[size - 1] != 10)  # a last line without its newline
    if _layout(buf, size) != (6 * rows - open_end, rows - open_end, 0):
        return None  # tabs, CR, blank lines, runs of spaces, empty columns, control or non-ASCII bytes
    query_ids, query = _queries(table["qid"])
    if query_ids is None:
        return None
    score = _concat([_numbers(c, np.float64) for c in table["score"].chunks], np.float64)
    if not bool(np.isfinite(score).all()):
        return None  # "inf", "nan", "1e999": the strict reader names the line
    padded, starts, lens = _ids(table["docid"])
    run = RunTable(query_ids, query, score, padded, starts, lens)
    return None if _has_repeat(run) else run


def _parse(text: npt.NDArray[np.uint8]) -> pa.Table | None:
    """Arrow's CSV reader, on every core: 0.4 s wall for a 7M-line run where the earlier numpy
    parser took 3 s on one core (benchmarks/eval_speed.py). Every line must have 6 columns; the
    Q0, rank and tag columns are not kept. Ids stay bytes (no UTF-8 pass: `_layout` allows ASCII
    alone); the score is read as float64 by Arrow's parser, correctly rounded as Python's
    float() is. None when a line is not 6 columns or a score is not a number Arrow reads (the
    strict reader then decides). Arrow's default allocator (mimalloc) spent 1-2 s in the kernel
    on that run, against 0.2-0.3 s with the system allocator."""
    import pyarrow as pa
    from pyarrow import csv

    try:
        return csv.read_csv(
            pa.BufferReader(pa.py_buffer(text)),
            read_options=csv.ReadOptions(column_names=list(_NAMES), use_threads=True),
            parse_options=csv.ParseOptions(
                delimiter=" ", quote_char=False, escape_char=False, double_quote=False, ignore_empty_lines=False
            ),
            convert_options=csv.ConvertOptions(
                # large_binary: `_queries` joins the ids of every run of equal ids into one array,
                # which can pass 2 GiB in a big file whose query changes every few lines
                column_types={"qid": pa.large_binary(), "docid": pa.binary(), "score": pa.float64()},
                include_columns=["qid", "docid", "score"],
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
            memory_pool=pa.system_memory_pool(),
        )
    except pa.ArrowInvalid:
        return None


def _layout(buf: npt.NDArray[np.uint8], size: int) -> tuple[int, int, int]:
    """(bytes outside printable ASCII 33..126, newlines, empty columns) in buf[:size].

    Every line Arrow read has 5 delimiters and one line end, each a byte of the first kind: when
    the counts are exactly those, the delimiters are single spaces, the line ends are `\\n` (not
    CR), and the ids and scores hold printable ASCII alone. A column is empty where two such
    bytes meet, at the start, or at an end without newline. 256 KB at a time, so the
    temporaries stay in cache."""
    import numpy as np

    step = 1 << 18
    shifted = np.empty(step, dtype=np.uint8)
    special = np.empty(step, dtype=bool)
    pairs = np.empty(step, dtype=bool)
    counts = [0, 0, 0]
    before = True  # the start of the text counts as a separator: a first empty column is caught
    for a in range(0, size, step):
        part = buf[a : min(a + step, size)]
        n = len(part)
        np.subtract(part, np.uint8(33), out=shifted[:n])  # 33..126 -> 0..93; the rest wraps to >= 94
        np.greater_equal(shifted[:n], 94, out=special[:n])
        counts[0] += int(np.count_nonzero(special[:n]))
        counts[2] += int(before and special[0])
        np.logical_and(special[1:n], special[: n - 1], out=pairs[: n - 1])
        counts[2] += int(np.count_nonzero(pairs[: n - 1]))
        before = bool(special[n - 1])
        np.equal(part, 10, out=special[:n])
        counts[1] += int(np.count_nonzero(special[:n]))
    counts[2] += int(before and buf[size - 1] != 10)  # "... 1.5 " with no newline: an empty tag
    return counts[0], counts[1], counts[2]


def _queries(column: pa.ChunkedArray) -> tuple[tuple[str, ...] | None, Ints]:
    """(the distinct query ids in first-seen order, each row's index into them); ids None when
    one starts with '#' (a comment line for trec_eval). A run lists a query's documents
    together, so the ids are encoded once per run of equal ids (0.04 s for 7M rows, where
    encoding every row took 0.3 s)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    runs = pc.run_end_encode(column).chunks
    if not runs:
        return (), np.empty(0, dtype=np.int64)
    encoded = pc.dictionary_encode(pa.concat_arrays([c.values for c in runs]))  # first-seen order
    per_run = _numbers(encoded.indices, np.int32).astype(np.int64)
    lengths = _concat([np.diff(_numbers(c.run_ends, np.int32), prepend=0) for c in runs], np.int64)
    names = tuple(b.decode("ascii") for b in encoded.dictionary.to_pylist())
    return (None if any(n.startswith("#") for n in names) else names), np.repeat(per_run, lengths)


def _ids(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.uint8], Ints, Ints]:
    """The document ids back to back in one zero-padded buffer (`words_at` loads 8 bytes past an
    id's end), with each id's start and length."""
    import numpy as np

    from harness.evaluation.run_table import padded_size

    pieces = []
    for chunk in column.chunks:
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        pieces.append((data[offsets[0] : offsets[-1]], np.diff(offsets)))
    lens = _concat([p[1] for p in pieces], np.int64)
    total = int(lens.sum())
    padded = np.zeros(padded_size(total), dtype=np.uint8)
    at = 0
    for data, _ in pieces:
        padded[at : at + len(data)] = data
        at += len(data)
    starts = np.cumsum(lens)
    starts -= lens  # in place: one 7M-row array fewer to fault in
    return padded, starts, lens


def _numbers(array: pa.Array, dtype: type) -> npt.NDArray[Any]:
    """A fixed-width Arrow array without nulls as a numpy view. Not Array.to_numpy(): its first
    call imports pandas (0.2 s)."""
    import numpy as np

    return np.frombuffer(array.buffers()[1], dtype=dtype)[array.offset : array.offset + len(array)]


def _concat(parts: list[npt.NDArray[Any]], dtype: type) -> npt.NDArray[Any]:
    import numpy as np

    return np.concatenate(parts, dtype=dtype) if parts else np.empty(0, dtype=dtype)


def _has_repeat(table: RunTable) -> bool:
    """True when a document appears twice for one query (then the strict reader names both
    lines). Equal keys are confirmed on the bytes: a key collision is not a repeat."""
    import numpy as np

    keys = table.pair_keys()
    ordered = np.sort(keys)
    same = ordered[1:] == ordered[:-1]
    if not bool(same.any()):
        return False
    rows = np.flatnonzero(np.isin(keys, ordered[1:][same]))
    seen = set()
    for r in rows.tolist():
        key = (int(table.query[r]), table.doc_bytes(r))
        if key in seen:
            return True
        seen.add(key)
    return False
