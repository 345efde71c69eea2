"""The re-ranker's pair-score store: one SQLite file per model setting, every row checksummed.

SQLite checks its own structure (quick_check), not the values it holds: a flipped bit in a
stored score would change a ranking silently. So each row carries a checksum over the store's
scope (the file's name: the model setting's key), the pair key, the score and the seconds (all and tokenising); a row
that fails it is discarded (one warning per store, the rest counted in `discarded`) and its pair
is scored again. A file that is not a SQLite database (empty, truncated, garbage), fails
quick_check or has another table layout is discarded with a warning and rebuilt. Opening and
rebuilding happen under a file lock beside the file, so two processes sharing the cache never
rebuild each other's store, and nobody ever sees the first process's file before it is set up.
"""

from __future__ import annotations

import errno
import hashlib
import json
import sqlite3
import warnings
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.errors import CacheError, HarnessError
from harness.fsutil import Destination, write_error

SQLITE_HEADER = b"SQLite format 3\x00"
COLUMNS = ("pair", "score", "seconds", "tokenise_seconds", "checksum")
PairScore = tuple[float, float, float]
"""(score, seconds the pair took when it was scored, of which tokenising)."""
PAIR_STORE = Destination(
    "the pair-score cache",
    "set HARNESS_CACHE_DIR to a writable folder, or set cache: false on the rerank stage",
    CacheError,
)
# sqlite3 errors carry SQLite's code, not an errno: the ones that mean the environment.
_ERRNO = {"SQLITE_FULL": errno.ENOSPC, "SQLITE_READONLY": errno.EROFS, "SQLITE_CANTOPEN": errno.EACCES}


class _Unsound(Exception):
    """The file opens as a database but is not a sound store (the message says why)."""


def row_checksum(scope: str, pair: str, score: float, seconds: float, tokenise_seconds: float) -> str:
    """128 bits of sha256 over everything a row says (float.hex: exact, no rounding)."""
    blob = "\x1f".join((scope, pair, *(float(v).hex() for v in (score, seconds, tokenise_seconds))))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def _file_problem(path: Path) -> str | None:
    """Why an existing file cannot be a sound store (None: it may be; SQLite checks the rest)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            header = fh.read(100)
    except FileNotFoundError:
        return None
    if size == 0:
        return "is empty (0 bytes)"
    if not header.startswith(SQLITE_HEADER) or len(header) < 100:
        return "is not a SQLite database (truncated or overwritten)"
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or size % page:
        return f"is truncated ({size} bytes is not a whole number of {page}-byte pages)"
    return None


def _environment_error(path: Path, exc: sqlite3.Error, dest: Destination) -> HarnessError:
    name = str(getattr(exc, "sqlite_errorname", ""))
    # SQLITE_IOERR_* (write, fsync, shared-memory size): what a full disk often looks like to SQLite.
    code = errno.EIO if name.startswith("SQLITE_IOERR") else _ERRNO.get(name, 0)
    return write_error(path, OSError(code, str(exc)), dest)


class PairScoreCache:
    """SQLite map pair key -> (score, seconds) for one model setting; safe for concurrent processes."""

    def __init__(self, path: Path, dest: Destination = PAIR_STORE) -> None:
        self.path = path
        self.dest = dest
        self.scope = path.stem
        self.discarded = 0
        """Rows that failed their checksum (their pairs were scored again)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(path.with_name(path.name + ".lock")):
                self._open()
        except OSError as exc:
            raise write_error(path, exc, dest) from None
        except sqlite3.OperationalError as exc:
            raise _environment_error(path, exc, dest) from None

    def _open(self) -> None:
        problem = _file_problem(self.path)
        if problem is None:
            existed = self.path.exists()
            try:
                self._connect()
                return
            except sqlite3.OperationalError:
                # Read-only, full, locked: the environment, not the file. A file this call
                # created is removed: an empty database left behind is no store.
                if not existed:
                    self._remove()
                raise
            except _Unsound as exc:
                problem = str(exc)
            except sqlite3.DatabaseError as exc:
                problem = f"is corrupted ({exc})"
        warnings.warn(f"pair-score cache {self.path} {problem}; discarding and rebuilding it", stacklevel=3)
        self._remove()
        self._connect()

    def _remove(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)

    def _connect(self) -> None:
        # check_same_thread off: a Ray Data actor is built in one thread and called in another
        # (harness.runner.ray_pairs); its calls never overlap, so the connection is never shared.
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            # seconds: time spent on the pair when it was computed (batch time / batch size), of
            # which tokenise_seconds tokenising, so that a cached re-run still reports what the
            # re-ranking costs, and in which step.
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS scores (pair TEXT PRIMARY KEY, score REAL NOT NULL, "
                "seconds REAL NOT NULL, tokenise_seconds REAL NOT NULL, checksum TEXT NOT NULL)"
            )
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            check = self.db.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise _Unsound(f"fails SQLite's quick_check ({check})")
            columns = tuple(row[1] for row in self.db.execute("PRAGMA table_info(scores)"))
            if columns != COLUMNS:
                raise _Unsound(f"has the columns ({', '.join(columns)}) of another version")
        except BaseException:
            self.db.close()
            raise

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """All rows in one transaction: they land together or not at all."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(sql, rows)
                self.db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (disk full) leaves the transaction open: end it.
                if self.db.in_transaction:
                    with suppress(sqlite3.Error):
                        self.db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise _environment_error(self.path, exc, self.dest) from None

    def set_meta(self, meta: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])

    def _sound(self, row: tuple[Any, ...]) -> bool:
        pair, score, seconds, tokenise_seconds, checksum = row
        if not isinstance(pair, str) or not all(isinstance(v, (int, float)) for v in row[1:4]):
            return False  # a flipped bit in a type byte turns a REAL into another type
        return bool(checksum == row_checksum(self.scope, pair, score, seconds, tokenise_seconds))

    def get(self, keys: Sequence[str]) -> dict[str, PairScore]:
        """pair key -> (score, seconds, tokenise seconds) for the keys present with a sound row."""
        found: dict[str, PairScore] = {}
        bad = 0
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT pair, score, seconds, tokenise_seconds, checksum FROM scores WHERE pair IN ({marks})"
            try:
                rows = self.db.execute(sql, chunk).fetchall()
            except sqlite3.OperationalError as exc:
                raise _environment_error(self.path, exc, self.dest) from None
            for row in rows:
                if self._sound(row):
                    found[row[0]] = (float(row[1]), float(row[2]), float(row[3]))
                else:
                    bad += 1
        if bad:
            self._discard(bad)
        return found

    def _discard(self, n: int) -> None:
        if not self.discarded:
            warnings.warn(
                f"pair-score cache {self.path}: {n} stored score(s) failed their checksum; "
                "discarded, those pairs are scored again",
                stacklevel=3,
            )
        self.discarded += n

    def put(self, scores: dict[str, PairScore]) -> None:
        rows = [
            (k, float(s), float(t), float(u), row_checksum(self.scope, k, s, t, u)) for k, (s, t, u) in scores.items()
        ]
        self._write("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?)", rows)

    def close(self) -> None:
        self.db.close()
