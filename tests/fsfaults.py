"""Simulated file-system faults for the tests: a read-only folder and a full disk.

A read-only folder cannot be simulated with permissions when the tests run as root (root writes
anyway), and mounting needs privileges CI does not have, so the faults are injected where Python
asks the system: `os.open` for writing, `os.mkdir`, `os.replace`/`os.rename`, `os.unlink` and
`os.rmdir` under a folder fail with EROFS (or EACCES), as on a read-only mount; `os.write` to a file
under a folder writes a few bytes and then fails with ENOSPC, as on a full disk. harness's own
writes all go through these calls (fsutil writes with os.write); SQLite's do not (it is C), and
its faults are simulated at the connection in tests/unit/test_pair_scores.py.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _under(path: Any, folder: Path) -> bool:
    try:
        p = Path(os.fsdecode(path)).absolute()
    except TypeError:  # a file descriptor (dir_fd forms): not ours
        return False
    return p == folder or folder in p.parents


def read_only(monkeypatch: pytest.MonkeyPatch, folder: Path, code: int = errno.EROFS) -> None:
    """Every write under `folder` (the folder itself included) fails with `code` from now on."""
    folder = folder.absolute()
    real_open, real_mkdir = os.open, os.mkdir
    fail = {name: getattr(os, name) for name in ("replace", "rename", "unlink", "rmdir")}

    def refuse(path: Any) -> OSError:
        return OSError(code, os.strerror(code), os.fsdecode(path))

    def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & _WRITE_FLAGS and _under(path, folder):
            raise refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def fake_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if _under(path, folder):
            if os.path.lexists(path):  # as the kernel does: an existing name is EEXIST first
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(path))
            raise refuse(path)
        real_mkdir(path, *args, **kwargs)

    def guarded(name: str) -> Callable[..., Any]:
        real = fail[name]

        def call(*paths: Any, **kwargs: Any) -> Any:
            if any(_under(p, folder) for p in paths):
                raise refuse(paths[-1])
            return real(*paths, **kwargs)

        return call

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    for name in fail:
        monkeypatch.setattr(os, name, guarded(name))


class DiskFull:
    """From now on, writing to a file whose path satisfies `match` writes `keep` bytes, then
    fails with ENOSPC (as a disk that fills up mid-write). `hits` lists the paths it failed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, match: Callable[[Path], bool], keep: int = 7) -> None:
        self.match = match
        self.keep = keep
        self.hits: list[Path] = []
        self._fds: dict[int, Path] = {}
        self._real_open, self._real_write, self._real_close = os.open, os.write, os.close
        monkeypatch.setattr(os, "open", self._open)
        monkeypatch.setattr(os, "write", self._write)
        monkeypatch.setattr(os, "close", self._close)

    def _open(self, path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        fd: int = self._real_open(path, flags, *args, **kwargs)
        if isinstance(path, (str, bytes, os.PathLike)) and flags & _WRITE_FLAGS:
            p = Path(os.fsdecode(path))
            if self.match(p):
                self._fds[fd] = p
        return fd

    def _write(self, fd: int, data: Any) -> int:
        path = self._fds.get(fd)
        if path is None:
            return int(self._real_write(fd, data))
        self._real_write(fd, bytes(data)[: self.keep])
        self.hits.append(path)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def _close(self, fd: int) -> None:
        self._fds.pop(fd, None)
        self._real_close(fd)


def temp_files(folder: Path) -> list[Path]:
    """Temporary files of atomic writes (fsutil names them .<name>.<random>.tmp) and probes."""
    return sorted(p for p in folder.rglob("*.tmp") if p.is_file())
