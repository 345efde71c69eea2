"""Line-oriented reading of plain or gzip text with file:line errors, from files or streams.

Every reader goes through `read_lines`, which opens its input once and reads it front to back:
pipes, `/dev/stdin`, process substitution and stdin (`-` on the command line) work like files.
Gzip is recognised by its first two bytes, which are read from the same stream and handed back
to the decoder, never by re-opening the file (a pipe cannot be read twice).
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from harness.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
STDIN_ARG = "-"
STDIN_NAME = "<stdin>"


class _Replay(io.RawIOBase):
    """A raw stream whose first bytes were already taken (to sniff gzip): it gives them back
    first, then reads on from the original stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _read_head(stream: BinaryIO, size: int) -> bytes:
    # A pipe may deliver fewer bytes per read than asked for; keep reading until EOF or `size`.
    head = b""
    while len(head) < size:
        chunk = stream.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return head


def _decoded(stream: BinaryIO) -> io.BufferedIOBase:
    """The stream's bytes, gunzipped when they start with the gzip magic number."""
    head = _read_head(stream, len(_GZIP_MAGIC))
    replay = io.BufferedReader(_Replay(head, stream), buffer_size=1 << 16)
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=replay, mode="rb")
    return replay


def _check_path(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"{what} file not found", path=path, hint="check the path or the data root")
    if path.is_dir():
        raise DataError(f"{what} path is a folder, expected a file", path=path)


def read_lines(path: Path, *, what: str, stream: BinaryIO | None = None) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without its end-of-line) of UTF-8 text.

    Reads `stream` when given (then `path` only names it in errors, e.g. `<stdin>`), else opens
    `path` once. Accepts gzip (detected by content, not name), a UTF-8 BOM and CRLF endings.
    Anything undecodable is a DataError naming the file and line.
    """
    if stream is None:
        _check_path(path, what)
    lineno = 0
    try:
        source = stream if stream is not None else open(path, "rb")  # noqa: SIM115 - closed below
        try:
            for lineno, data in enumerate(_decoded(source), start=1):
                yield lineno, _decode_line(data, lineno, path, what)
        finally:
            if stream is None:
                source.close()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(
            f"corrupt or truncated gzip {what} file ({exc})",
            path=path,
            line=lineno + 1,
            hint="re-download or re-create the file",
        ) from None
    except OSError as exc:
        raise DataError(f"cannot read {what} file: {exc.strerror or exc}", path=path) from None


def _decode_line(data: bytes, lineno: int, path: Path, what: str) -> str:
    if lineno == 1 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"invalid UTF-8 in {what} at byte {exc.start}",
            path=path,
            line=lineno,
            hint="re-encode the file as UTF-8",
        ) from None
    return text.rstrip("\r\n")


def stdin_stream() -> BinaryIO:
    return sys.stdin.buffer


def same_stream(a: Path, b: Path) -> bool:
    """True when two command-line inputs would read the same pipe or terminal (`-` is stdin),
    so the second would find it already consumed. Two names of one regular file are fine."""

    def identity(p: Path) -> tuple[int, int, int] | None:
        try:
            st = os.fstat(sys.stdin.fileno()) if str(p) == STDIN_ARG else os.stat(p)
        except (OSError, ValueError, io.UnsupportedOperation):
            return None
        return (st.st_dev, st.st_ino, st.st_mode)

    if str(a) == STDIN_ARG and str(b) == STDIN_ARG:
        return True
    ia, ib = identity(a), identity(b)
    return ia is not None and ia == ib and not stat.S_ISREG(ia[2])
