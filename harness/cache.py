"""Content-addressed artefact store: keys are hashes of inputs, entries carry checksums.

Layout: <root>/<kind>/<key[:2]>/<key>.bin with a sidecar <key>.json holding the sha256 of the
bytes and free-form metadata (e.g. the seconds it took to compute, so that a cached stage
can still report its cost). Writes are atomic; a per-entry file lock makes two processes
sharing the store compute an entry once; a corrupted entry is detected, discarded with a
warning and rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.errors import CacheError
from harness.fsutil import atomic_write_bytes, atomic_write_text

CACHE_ENV = "HARNESS_CACHE_DIR"


def default_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness"


def make_key(**parts: Any) -> str:
    """sha256 of a canonical JSON of the parts (which must be JSON-serialisable)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str
    size: int
    meta: dict[str, Any]


class ArtefactStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_root()).expanduser()

    def _paths(self, kind: str, key: str) -> tuple[Path, Path, Path]:
        if not kind.replace("-", "").replace("_", "").isalnum() or not key.isalnum():
            raise CacheError(f"invalid cache kind/key {kind!r}/{key!r}")
        folder = self.root / kind / key[:2]
        return folder / f"{key}.bin", folder / f"{key}.json", folder / f"{key}.lock"

    @contextmanager
    def lock(self, kind: str, key: str) -> Iterator[None]:
        """Hold the entry's inter-process lock (an OS file lock: released if the holder dies)."""
        _, _, lock_path = self._paths(kind, key)
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            held = FileLock(lock_path).acquire()
        except OSError as exc:
            raise CacheError(
                f"cannot use cache directory {self.root}: {exc.strerror or exc}",
                hint=f"set {CACHE_ENV} to a writable folder",
            ) from None
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
        atomic_write_bytes(data_path, data)
        record = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "meta": meta or {}}
        # The sidecar is written last: an entry without it is incomplete and never read.
        atomic_write_text(meta_path, json.dumps(record, sort_keys=True))

    def get_or_compute(
        self, kind: str, key: str, compute: Callable[[], tuple[bytes, dict[str, Any]]]
    ) -> tuple[bytes, dict[str, Any], bool]:
        """(bytes, meta, was_cached). Under the entry's lock, so concurrent callers compute once."""
        hit = self.get(kind, key)
        if hit is not None:
            return hit, self.meta(kind, key) or {}, True
        with self.lock(kind, key):
            hit = self.get(kind, key)
            if hit is not None:
                return hit, self.meta(kind, key) or {}, True
            data, meta = compute()
            self.put(kind, key, data, meta)
            return data, meta, False

    def entries(self) -> list[Entry]:
        out: list[Entry] = []
        if not self.root.is_dir():
            return out
        for meta_path in sorted(self.root.glob("*/*/*.json")):
            try:
                m = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue
            out.append(Entry(meta_path.parent.parent.name, meta_path.stem, int(m.get("size", 0)), m.get("meta", {})))
        # Stores that grow in place (the re-ranker's pair scores) are SQLite files of their own.
        for db in sorted(self.root.glob("*/*.sqlite3")):
            size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
            out.append(Entry(db.parent.name, db.stem, size, {"path": str(db), "format": "sqlite"}))
        return out

    def clear(self, kind: str | None = None) -> int:
        """Remove every entry (or every entry of one kind); returns the number removed."""
        target = self.root / kind if kind else self.root
        n = len([e for e in self.entries() if kind is None or e.kind == kind])
        if target.is_dir():
            shutil.rmtree(target)
        return n


def array_to_bytes(array: Any) -> bytes:
    """numpy array -> .npy bytes (no pickle, so a cache file can never execute code)."""
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def bytes_to_array(data: bytes) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)
