"""Run files read straight into a `RunTable`: vectorised over the file's bytes, for the evaluator.

The fast path takes the layout nearly every tool writes: ASCII, one line per document, six
columns separated by single spaces, `\\n` line ends. It finds every byte <= 0x20 in one pass
and checks that each line holds exactly five spaces and a newline with no empty column; ids
then need no further check (no whitespace, no control character, no leading `#`, as
`harness.data.fields.check_id` requires). Scores go through numpy's float parser, which accepts
exactly what Python's float() accepts; `_` and non-finite values are refused afterwards.

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
from typing import TYPE_CHECKING, BinaryIO

from harness.data.trec import read_run
from harness.evaluation.run_table import RunTable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Ints = npt.NDArray[np.int64]
    Part = tuple[npt.NDArray[np.float64], Ints, Ints, Ints, npt.NDArray[np.uint64]]

_GZIP_MAGIC = b"\x1f\x8b"
_COLUMNS = 6
_PATTERN = (32, 32, 32, 32, 32, 10)  # five spaces, then the newline
_MAX_SCORE_WIDTH = 64
_CHUNK = 1 << 22


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
    """Chunk by chunk (a few MB each: numpy's temporaries stay small and are reused, where
    whole-file temporaries would cost more in page faults than the parsing itself)."""
    import numpy as np

    if size == 0:
        return None
    index: dict[str, int] = {}
    parts: list[Part] = []
    a = 0
    while a < size:
        b = min(a + _CHUNK, size)
        if b < size:
            back = np.flatnonzero(buf[a:b][::-1] == 10)
            if len(back) == 0:
                return None  # a line longer than a chunk: not a run file we read fast
            b -= int(back[0])
        part = _chunk(buf, a, b, size, index)
        if part is None:
            return None
        parts.append(part)
        a = b
    score, starts, lens, query, keys = (np.concatenate([p[i] for p in parts]) for i in range(5))
    table = RunTable(tuple(index), query, score, buf, starts, lens, keys)
    return None if _has_repeat(table) else table


def _chunk(buf: npt.NDArray[np.uint8], a: int, b: int, size: int, index: dict[str, int]) -> Part | None:
    """The lines in buf[a:b] (whole lines): (scores, doc starts, doc lengths, query indexes,
    pair keys), or None when a line is not of the simple layout."""
    import numpy as np

    from harness.evaluation.run_table import pair_key, token_hash

    text = buf[a:b]
    if bool((text >= 127).any()):
        return None  # non-ASCII (the strict reader decodes UTF-8) or DEL
    cuts = _separators(text, b == size)
    if cuts is None:
        return None
    cols = cuts.reshape(-1, _COLUMNS) + a
    line_start = np.concatenate(([a], cols[:-1, 5] + 1))
    if bool((buf[line_start] == ord("#")).any()):
        return None  # comment lines
    score = _scores(buf, cols[:, 3] + 1, cols[:, 4] - cols[:, 3] - 1)
    if score is None:
        return None
    query = _queries(buf, line_start, cols[:, 0] - line_start, index)
    starts, lens = cols[:, 1] + 1, cols[:, 2] - cols[:, 1] - 1
    return score, starts, lens, query, pair_key(token_hash(buf, starts, lens), query)


def _separators(text: npt.NDArray[np.uint8], last: bool) -> npt.NDArray[np.int64] | None:
    """Positions (in `text`) of the 5 spaces and the newline of every line, or None unless
    every line is 6 non-empty columns separated by single spaces."""
    import numpy as np

    cuts = np.flatnonzero(text <= 32)
    kinds = text[cuts]
    if last and text[-1] != 10:  # a last line without its newline
        cuts = np.append(cuts, len(text))
        kinds = np.append(kinds, np.uint8(10))
    if len(cuts) == 0 or len(cuts) % _COLUMNS:
        return None
    if not bool((kinds.reshape(-1, _COLUMNS) == _PATTERN).all()):
        return None
    if cuts[0] == 0 or bool((np.diff(cuts) < 2).any()):
        return None  # an empty column, a blank line or a line starting with a space
    return cuts.astype(np.int64)


def _scores(padded: npt.NDArray[np.uint8], starts: Ints, lens: Ints) -> npt.NDArray[np.float64] | None:
    import numpy as np

    from harness.evaluation.run_table import words_at

    width = int(lens.max())
    if width > _MAX_SCORE_WIDTH:
        return None
    words = -(-width // 8)
    packed = np.empty((len(starts), words), dtype=">u8")
    for w in range(words):
        packed[:, w] = words_at(padded, starts, lens, 8 * w)
    text = packed.view(f"S{8 * words}").ravel()
    try:
        score = text.astype(np.float64)
    except ValueError:
        return None
    if not bool(np.isfinite(score).all()) or bool((packed.view(np.uint8) == ord("_")).any()):
        return None  # float() reads "1_0" and "1e999"; trec_eval does not, nor does the harness
    return score


def _queries(
    buf: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], lens: npt.NDArray[np.int64], index: dict[str, int]
) -> npt.NDArray[np.int64]:
    """Each row's index into the distinct query ids (`index`, in first-seen order, extended
    here). A run lists a query's documents together, so an id is decoded once per block."""
    import numpy as np

    from harness.evaluation.run_table import words_at

    differs = np.zeros(len(starts), dtype=bool)
    differs[0] = True
    differs[1:] = lens[1:] != lens[:-1]
    for j in range(0, int(lens.max()), 8):
        w = words_at(buf, starts, lens, j)
        differs[1:] |= w[1:] != w[:-1]
    block_start = np.flatnonzero(differs)
    block_query = np.empty(len(block_start), dtype=np.int64)
    for k, (s, n) in enumerate(zip(starts[block_start].tolist(), lens[block_start].tolist(), strict=True)):
        block_query[k] = index.setdefault(buf[s : s + n].tobytes().decode("ascii"), len(index))
    return np.repeat(block_query, np.diff(np.append(block_start, len(starts))))


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
