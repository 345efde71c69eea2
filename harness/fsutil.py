"""Atomic file writes (nothing partially written is ever read back) and write faults as errors.

Every file harness writes goes through `atomic_write_many` (or its one-file forms): each file is
written to a temporary file beside it, fsynced, and renamed over its name only once all of them
are written, so a full disk or a read-only folder leaves the previous files untouched and no
temporary file behind. An OSError becomes an `OutputError` naming the path and the fix.
`writable_folder` and `writable_file` probe a destination before any work is spent on it.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, OutputError

_REASONS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EISDIR: "it is a folder, and a file is expected here",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "it is a file, and a folder is expected here",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "input/output error",
}


def _existing_ancestor(path: Path) -> Path:
    """The nearest of `path` and its parents that exists (a file or a folder)."""
    for p in (path, *path.parents):
        if p.exists():
            return p
    return path


def _fix(path: Path, code: int | None, elsewhere: str) -> str:
    near = _existing_ancestor(path)
    folder = near if near.is_dir() else near.parent
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"make {folder} writable, or {elsewhere}"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"free space on the disk of {folder}, or {elsewhere}"
    if code == errno.EIO:
        return f"check that the disk of {folder} has free space and works, or {elsewhere}"
    if code == errno.EISDIR:
        return f"name a file, not a folder, or {elsewhere}"
    if code in (errno.ENOTDIR, errno.EEXIST) and near.exists() and not near.is_dir():
        return f"remove or rename the file {near}, or {elsewhere}"
    return elsewhere


@dataclass(frozen=True)
class Destination:
    """What is being written, for the error message: its name, the way out, the error type."""

    what: str = ""
    """e.g. "the output folder"; empty: the path says it all."""
    elsewhere: str = "choose another path"
    """The alternative to repairing the destination (e.g. "choose another folder with -o")."""
    error: type[HarnessError] = OutputError


ANYWHERE = Destination()


def write_error(path: Path, exc: OSError, dest: Destination = ANYWHERE) -> HarnessError:
    """The one-line error for a failed write of `path`: what the system said, and the fix."""
    reason = _REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
    what = f" {dest.what}" if dest.what else ""
    return dest.error(f"cannot write{what}: {reason}", path=path, hint=_fix(path, exc.errno, dest.elsewhere))


def _file_mode() -> int:
    """The mode a plain open() would give a new file: 0o666 less the process umask."""
    try:
        # Linux reports the umask without changing it (os.umask would, for every thread).
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _write_all(fd: int, data: bytes) -> None:
    # os.write may write less than asked (signals, pipes); loop until every byte is down.
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _stage(path: Path, data: bytes, mode: int) -> Path:
    """Write `data` to a new temporary file beside `path`, on disk (fsynced); returns its name."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            # mkstemp creates 0600 files; reports and results are meant to be shared like any other.
            os.fchmod(fd, mode)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)  # some file systems report a failed write only here
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write_many(files: Mapping[Path, bytes], dest: Destination = ANYWHERE) -> None:
    """Write every file, or none: all are staged beside their names first, then renamed."""
    mode = _file_mode()
    staged: dict[Path, Path] = {}
    current = next(iter(files), Path("."))
    try:
        for path, data in files.items():
            current = path
            staged[path] = _stage(path, data, mode)
        for path, tmp in list(staged.items()):
            current = path
            os.replace(tmp, path)
            del staged[path]
    except OSError as exc:
        raise write_error(current, exc, dest) from None
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    for folder in {p.parent for p in files}:
        _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make the renames durable; some file systems cannot open a folder, which only costs that."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, dest: Destination = ANYWHERE) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    atomic_write_many({path: data}, dest)


def atomic_write_text(path: Path, text: str, dest: Destination = ANYWHERE) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), dest)


def _probe(folder: Path) -> None:
    """Create, write one byte to and remove a file in `folder` (raises OSError if any fails)."""
    fd, tmp = tempfile.mkstemp(prefix=".harness-probe-", suffix=".tmp", dir=folder)
    try:
        _write_all(fd, b"\n")
    finally:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)


def writable_folder(folder: Path, dest: Destination = ANYWHERE) -> None:
    """Create `folder` if needed and prove a file can be written in it, before any work."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _probe(folder)
    except OSError as exc:
        raise write_error(folder, exc, dest) from None


def writable_file(path: Path, dest: Destination = ANYWHERE) -> None:
    """Prove `path` can be written as a file (not a folder; its nearest existing folder
    writable), creating nothing that stays."""
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        near = _existing_ancestor(path.parent)
        if not near.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(near))
        _probe(near)
    except OSError as exc:
        raise write_error(path, exc, dest) from None


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: no timestamp and no file name in the header."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
