"""Line-oriented reading of plain or gzip text files with file:line errors."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from harness.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def read_lines(path: Path, *, what: str) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without its end-of-line) for a UTF-8 file.

    Accepts gzip (detected by content, not name), a UTF-8 BOM and CRLF endings. Anything
    undecodable is a DataError naming the file and line.
    """
    if not path.exists():
        raise DataError(f"{what} file not found", path=path, hint="check the path or the data root")
    if path.is_dir():
        raise DataError(f"{what} path is a folder, expected a file", path=path)
    lineno = 0
    try:
        raw = gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")  # noqa: SIM115
        with raw as fh:
            for lineno, data in enumerate(fh, start=1):
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
                yield lineno, text.rstrip("\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(
            f"corrupt or truncated gzip {what} file ({exc})",
            path=path,
            line=lineno + 1,
            hint="re-download or re-create the file",
        ) from None
    except OSError as exc:
        raise DataError(f"cannot read {what} file: {exc.strerror or exc}", path=path) from None
