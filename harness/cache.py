"""Content-addressed artefact store: keys are hashes of inputs, entries carry checksums.

Layout: <root>/<kind>/<key[:2]>/<key>.bin with a sidecar <key>.json holding the sha256 of the
bytes and free-form metadata (e.g. the seconds it took to compute, so that a cached stage
can still report its cost); entries that are read in place, memory-mapped (a corpus's document
store, a BM25 index), are a folder <key>.d of files whose sha256s the sidecar holds; stores that
grow in place (the re-ranker's pair scores) are <root>/<kind>/<key>.sqlite3. Writes are atomic;
a per-entry file lock makes two processes sharing the store compute an entry once; a corrupted
entry is detected, discarded with a warning and rebuilt.

The root holds a CACHEDIR.TAG (https://bford.info/cachedir/) naming harness, written when the
store first writes there: `clear` empties only a folder so marked (or one holding nothing but
the layout above), and removes only files of that layout, never anything else in the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from filelock import FileLock

from harness.errors import CacheError
from harness.fsutil import (
    Destination,
    atomic_write_bytes,
    atomic_write_text,
    sha256_file,
    writable_folder,
    write_error,
)

CACHE_ENV = "HARNESS_CACHE_DIR"
_T = TypeVar("_T")


def default_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness"


def make_key(**parts: Any) -> str:
    """sha256 of a canonical JSON of the parts (which must be JSON-serialisable)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


MARKER = "CACHEDIR.TAG"
_MARKER_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file marks an artefact cache written by harness (see https://bford.info/cachedir/).\n"
    "# `harness cache list` lists it; `harness cache clear` empties it.\n"
)
_HARNESS_LINE = "an artefact cache written by harness"
_TMP = r"\.[a-z0-9_]+\.tmp"  # fsutil's temporary files: .<name>.<random>.tmp
# Keys are sha256 hex digests (make_key): a user's file matches the layout by chance, never.
_KIND = re.compile(r"[a-z0-9][a-z0-9_-]*")
_KEY = re.compile(r"[0-9a-f]{64}")
_ENTRY_FILE = re.compile(rf"(?P<key>[0-9a-f]{{64}})\.(bin|json|lock)|\.(?P<tmpkey>[0-9a-f]{{64}})\.(bin|json){_TMP}")
_ENTRY_DIR = re.compile(rf"(?P<key>[0-9a-f]{{64}})\.d|\.(?P<tmpkey>[0-9a-f]{{64}})\.d{_TMP}")
_DB_FILE = re.compile(r"[0-9a-f]{64}\.sqlite3(-wal|-shm|-journal|\.lock)?")
_ROOT_FILE = re.compile(rf"{re.escape(MARKER)}|\.{re.escape(MARKER)}{_TMP}|\.harness-probe-[a-z0-9_]+\.tmp")

RootState = Literal["missing", "empty", "cache", "foreign", "file"]


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str
    size: int
    meta: dict[str, Any]


def entry_files(folder: Path) -> list[str]:
    """The files of a folder entry by path relative to it (`1_Pooling/config.json`: a model
    folder nests), sorted; a flat entry's are its file names."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())


class ArtefactStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_root()).expanduser()
        self.dest = Destination("the artefact cache", f"set {CACHE_ENV} to a writable folder", CacheError)
        self._marked = False

    def _paths(self, kind: str, key: str) -> tuple[Path, Path, Path]:
        if not _KIND.fullmatch(kind) or not _KEY.fullmatch(key):
            raise CacheError(f"invalid cache kind/key {kind!r}/{key!r} (a kind is [a-z0-9_-], a key make_key's hex)")
        folder = self.root / kind / key[:2]
        return folder / f"{key}.bin", folder / f"{key}.json", folder / f"{key}.lock"

    def _mark(self) -> None:
        """Write the root's marker before the store's first file there (once per store)."""
        if self._marked:
            return
        marker = self.root / MARKER
        if not _is_marker(marker):
            atomic_write_text(marker, _MARKER_TEXT, self.dest)
        self._marked = True

    def check_writable(self) -> None:
        """Prove the store can write (root, marker, a probe file): a run calls it before any work."""
        writable_folder(self.root, self.dest)
        self._mark()

    def db_path(self, kind: str, key: str) -> Path:
        """Where the store keeps a SQLite file of its own (created by the caller) for kind/key."""
        self._paths(kind, key)
        self._mark()
        folder = self.root / kind
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(folder, exc, self.dest) from None
        return folder / f"{key}.sqlite3"

    @contextmanager
    def lock(self, kind: str, key: str) -> Iterator[None]:
        """Hold the entry's inter-process lock (an OS file lock: released if the holder dies)."""
        _, _, lock_path = self._paths(kind, key)
        self._mark()
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            held = FileLock(lock_path).acquire()
        except OSError as exc:
            raise write_error(lock_path, exc, self.dest) from None
        with held:
            yield

    def get(self, kind: str, key: str) -> bytes | None:
        """The entry's bytes, or None if absent or corrupted (a corrupted one is removed)."""
        data_path, meta_path, _ = self._paths(kind, key)
        if not data_path.is_file() or not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            data = data_path.read_bytes()
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            meta, data = {}, b""
        if not isinstance(meta, dict) or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            warnings.warn(
                f"cache entry {kind}/{key[:12]} is corrupted or truncated; discarding and rebuilding",
                stacklevel=2,
            )
            # If it cannot be removed (a read-only cache), the rebuilt entry's write says so.
            with suppress(OSError):
                data_path.unlink(missing_ok=True)
                meta_path.unlink(missing_ok=True)
            return None
        return data

    def meta(self, kind: str, key: str) -> dict[str, Any] | None:
        _, meta_path, _ = self._paths(kind, key)
        try:
            m = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        return m.get("meta", {}) if isinstance(m, dict) else None

    def put(self, kind: str, key: str, data: bytes, meta: dict[str, Any] | None = None) -> None:
        data_path, meta_path, _ = self._paths(kind, key)
        self._mark()
        atomic_write_bytes(data_path, data, self.dest)
        record = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "meta": meta or {}}
        # The sidecar is written last: an entry without it is incomplete and never read.
        atomic_write_text(meta_path, json.dumps(record, sort_keys=True), self.dest)

    def folder(self, kind: str, key: str) -> Path | None:
        """The folder entry's path, or None if absent or corrupted (each file's size and sha256
        are checked against the sidecar, streamed: a big entry is hashed, never read into memory)."""
        data_path, meta_path, _ = self._paths(kind, key)
        folder = data_path.with_suffix(".d")
        if not folder.is_dir() or not meta_path.is_file():
            return None
        try:
            record = json.loads(meta_path.read_text(encoding="utf-8"))
            files = record["files"]
            ok = isinstance(files, dict) and sorted(files) == entry_files(folder)
            ok = ok and all(
                (folder / name).stat().st_size == f["size"] and sha256_file(folder / name) == f["sha256"]
                for name, f in files.items()
            )
        except (OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            ok = False
        if not ok:
            warnings.warn(
                f"cache entry {kind}/{key[:12]} is corrupted or truncated; discarding and rebuilding",
                stacklevel=2,
            )
            with suppress(OSError):
                meta_path.unlink(missing_ok=True)
                shutil.rmtree(folder)
            return None
        return folder

    def folder_or_build(
        self, kind: str, key: str, build: Callable[[Path], dict[str, Any]]
    ) -> tuple[Path, dict[str, Any], bool]:
        """(folder, meta, was_cached) of a folder entry; `build(tmp)` writes the files into an
        empty folder and returns the metadata. The folder is renamed into place when complete
        and the sidecar written last, so a half-built entry is never read."""
        return self._once(kind, key, lambda: self.folder(kind, key), lambda: self._build_folder(kind, key, build))

    def _build_folder(
        self, kind: str, key: str, build: Callable[[Path], dict[str, Any]]
    ) -> tuple[Path, dict[str, Any]]:
        data_path, meta_path, _ = self._paths(kind, key)
        final = data_path.with_suffix(".d")
        tmp = final.parent / f".{key}.d.{os.getpid()}_{os.urandom(4).hex()}.tmp"
        try:
            tmp.mkdir(parents=True)
            meta = build(tmp)
            files: dict[str, dict[str, Any]] = {
                name: {"sha256": sha256_file(tmp / name), "size": (tmp / name).stat().st_size}
                for name in entry_files(tmp)
            }
            if final.exists():  # a corrupted or unfinished entry whose removal failed before
                shutil.rmtree(final)
            tmp.rename(final)
        except OSError as exc:
            raise write_error(final, exc, self.dest) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        record = {"files": files, "size": sum(int(f["size"]) for f in files.values()), "meta": meta}
        atomic_write_text(meta_path, json.dumps(record, sort_keys=True), self.dest)
        return final, meta

    def get_or_compute(
        self, kind: str, key: str, compute: Callable[[], tuple[bytes, dict[str, Any]]]
    ) -> tuple[bytes, dict[str, Any], bool]:
        """(bytes, meta, was_cached)."""

        def make() -> tuple[bytes, dict[str, Any]]:
            data, meta = compute()
            self.put(kind, key, data, meta)
            return data, meta

        return self._once(kind, key, lambda: self.get(kind, key), make)

    def _once(
        self, kind: str, key: str, find: Callable[[], _T | None], make: Callable[[], tuple[_T, dict[str, Any]]]
    ) -> tuple[_T, dict[str, Any], bool]:
        """The entry `find` reads, else the one `make` stores, under the entry's lock and looked
        for again once it is held: concurrent callers make it once."""
        hit = find()
        if hit is not None:
            return hit, self.meta(kind, key) or {}, True
        with self.lock(kind, key):
            hit = find()
            if hit is not None:
                return hit, self.meta(kind, key) or {}, True
            value, meta = make()
            return value, meta, False

    def owned_files(self, kind: str | None = None) -> list[Path]:
        """The files of the store's layout under the root (all kinds, or one): what it wrote."""
        out: list[Path] = []
        for kind_dir in _subfolders(self.root):
            if not _KIND.fullmatch(kind_dir.name) or (kind is not None and kind_dir.name != kind):
                continue
            out.extend(p for p in _plain_files(kind_dir) if _DB_FILE.fullmatch(p.name))
            for shard in _subfolders(kind_dir):
                for p in _plain_files(shard):
                    m = _ENTRY_FILE.fullmatch(p.name)
                    if len(shard.name) == 2 and m and (m["key"] or m["tmpkey"])[:2] == shard.name:
                        out.append(p)
                for sub in _subfolders(shard):
                    m = _ENTRY_DIR.fullmatch(sub.name)
                    if len(shard.name) == 2 and m and (m["key"] or m["tmpkey"])[:2] == shard.name:
                        out.extend(_plain_files(sub))
        return out

    def foreign_files(self) -> list[Path]:
        """Everything under the root the store did not write (files, links, other folders' content)."""
        owned = set(self.owned_files())
        out: list[Path] = []
        for folder, dirs, files in os.walk(self.root):
            here = Path(folder)
            for name in files + [d for d in dirs if (here / d).is_symlink()]:
                p = here / name
                if p not in owned and not (here == self.root and _ROOT_FILE.fullmatch(name)):
                    out.append(p)
        return sorted(out)

    def state(self) -> RootState:
        """What the root is: missing, an empty folder, a harness cache, a foreign folder, a file."""
        if not self.root.exists():
            return "missing"
        if not self.root.is_dir():
            return "file"
        if not any(self.root.iterdir()):
            return "empty"
        if _is_marker(self.root / MARKER):
            return "cache"
        # A store written before the marker existed: recognised when it holds only its layout.
        return "cache" if self.owned_files() and not self.foreign_files() else "foreign"

    def require_cache(self) -> None:
        """Raise CacheError unless the root is recognisably a harness cache (see `state`)."""
        state = self.state()
        if state == "cache":
            return
        why = {"missing": "it does not exist", "empty": "it is empty", "file": "it is a file"}.get(state)
        if why is None:
            sample = ", ".join(str(p) for p in self.foreign_files()[:3])
            why = "no CACHEDIR.TAG written by harness"
            why += f", and files harness did not write: {sample}" if sample else ""
        raise CacheError(
            f"is not a harness cache ({why}); nothing was removed",
            path=self.root,
            hint=f"pass --cache-dir the folder `harness cache list` shows, or set {CACHE_ENV}",
        )

    def entries(self) -> list[Entry]:
        out: list[Entry] = []
        for path in self.owned_files():
            if path.suffix == ".sqlite3":
                size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
                out.append(Entry(path.parent.name, path.stem, size, {"path": str(path), "format": "sqlite"}))
                continue
            if path.suffix != ".json" or not _KEY.fullmatch(path.stem) or len(path.parent.name) != 2:
                continue  # not a sidecar: a temporary file, or a file inside a folder entry
            try:
                m = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(m, dict):
                out.append(Entry(path.parent.parent.name, path.stem, int(m.get("size", 0)), m.get("meta", {})))
        return out

    def has(self, kind: str, key: str) -> bool:
        """Whether an entry is stored (its sidecar exists), without reading or checking it."""
        return self._paths(kind, key)[1].is_file()

    def discard(self, kind: str, key: str) -> None:
        """Remove one entry (bytes or folder, and its sidecar) if present: an intermediate one
        whose content now lives in another entry (encoded shards, once assembled)."""
        data_path, meta_path, _ = self._paths(kind, key)
        meta_path.unlink(missing_ok=True)  # first: without its sidecar an entry is never read
        data_path.unlink(missing_ok=True)
        shutil.rmtree(data_path.with_suffix(".d"), ignore_errors=True)

    def clear(self, kind: str | None = None) -> int:
        """Remove the store's entries (all, or those of one kind) and nothing else; returns how
        many. A root that is not recognisably a harness cache is refused whole."""
        if self.state() in ("missing", "empty"):
            return 0
        self.require_cache()
        n = len([e for e in self.entries() if kind is None or e.kind == kind])
        owned = self.owned_files(kind)
        for path in owned:
            path.unlink(missing_ok=True)
        # The layout's folders that held those files go too once empty (rmdir spares any other);
        # a folder entry's files sit one level deeper.
        held = {f for p in owned for f in (p.parent, p.parent.parent, p.parent.parent.parent)}
        for folder in sorted(held, key=lambda f: len(f.parts), reverse=True):
            if folder != self.root:
                with suppress(OSError):
                    folder.rmdir()
        return n


def _is_marker(path: Path) -> bool:
    try:
        return path.is_file() and _HARNESS_LINE in path.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False


def _subfolders(folder: Path) -> list[Path]:
    """Real subfolders (never a link to one: the store creates none, and none is followed)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def _plain_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())
    except OSError:
        return []
