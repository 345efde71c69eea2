"""The re-ranker's pair-score store: every stored value is checked, a damaged row or file is
discarded with one warning (the pair is scored again), and environment faults are one-line
CacheErrors. tests/integration/test_pair_score_integrity.py drives the same through `harness run`."""

from __future__ import annotations

import contextlib
import errno
import math
import sqlite3
import struct
import warnings
from pathlib import Path
from typing import Any

import pytest

from harness.errors import CacheError
from harness.systems._pair_scores import PairScoreCache, row_checksum

SCORES = {"a" * 64: (1.5, 0.01, 0.001), "b" * 64: (-2.25, 0.02, 0.002), "c" * 64: (7.125, 0.03, 0.003)}


def _store(tmp_path: Path, name: str = "ab" * 32) -> tuple[Path, PairScoreCache]:
    path = tmp_path / f"{name}.sqlite3"
    store = PairScoreCache(path)
    store.put(SCORES)
    return path, store


def _settle(path: Path) -> None:
    """Move everything from the write-ahead log into the file itself, as a closed store is."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _reopen(path: Path) -> tuple[PairScoreCache, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = PairScoreCache(path)
    return store, [str(w.message) for w in caught]


def _get(store: PairScoreCache, keys: list[str]) -> tuple[dict[str, tuple[float, float]], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = store.get(keys)
    return found, [str(w.message) for w in caught]


def test_round_trip_and_reopen(tmp_path: Path) -> None:
    path, store = _store(tmp_path)
    assert store.get([*SCORES, "d" * 64]) == SCORES
    store.close()
    again, said = _reopen(path)
    assert said == []
    assert again.get(list(SCORES)) == SCORES


@pytest.mark.parametrize("bit", [0, 30, 52, 62])
def test_a_flipped_bit_in_a_stored_score_is_caught_in_the_file_bytes(tmp_path: Path, bit: int) -> None:
    """SQLite stores a REAL as 8 big-endian bytes and checks no value: flip one bit of one
    score in the file itself (low mantissa, high mantissa, exponent, just below the sign)."""
    path, store = _store(tmp_path)
    store.close()
    _settle(path)
    raw = bytearray(path.read_bytes())
    target = struct.pack(">d", SCORES["b" * 64][0])
    assert raw.count(target) == 1
    at = raw.index(target) + 7 - bit // 8
    raw[at] ^= 1 << (bit % 8)
    path.write_bytes(bytes(raw))

    store, said = _reopen(path)
    assert said == []  # the file is sound; one value is not
    found, said = _get(store, list(SCORES))
    assert found == {k: v for k, v in SCORES.items() if k != "b" * 64}
    assert len(said) == 1
    assert "1 stored score(s) failed their checksum" in said[0]
    assert store.discarded == 1
    # Scored again and stored again: sound from now on, and no second warning.
    store.put({"b" * 64: SCORES["b" * 64]})
    assert _get(store, list(SCORES)) == (SCORES, [])


@pytest.mark.parametrize(
    "change",
    [
        "score = score + 1e-9",
        "seconds = 0.5",
        "score = 'x'",
        "score = zeroblob(8)",
        "checksum = 'x' || substr(checksum, 2)",
    ],
)
def test_any_change_to_a_row_fails_its_checksum(tmp_path: Path, change: str) -> None:
    path, store = _store(tmp_path)
    store.close()
    with sqlite3.connect(path) as db:
        db.execute(f"UPDATE scores SET {change} WHERE pair = ?", ("c" * 64,))
    found, said = _get(PairScoreCache(path), list(SCORES))
    assert "c" * 64 not in found
    assert len(found) == 2
    assert len(said) == 1


def test_many_bad_rows_warn_once_and_are_counted(tmp_path: Path) -> None:
    path, store = _store(tmp_path)
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE scores SET score = score * 2")
    store = PairScoreCache(path)
    _, first = _get(store, ["a" * 64, "b" * 64])
    _, second = _get(store, ["c" * 64])
    assert (len(first), len(second), store.discarded) == (1, 0, 3)


def test_a_row_copied_from_another_model_setting_is_refused(tmp_path: Path) -> None:
    """The checksum covers the store's scope (its file name: the model setting's key)."""
    path, store = _store(tmp_path, "ab" * 32)
    store.close()
    other = PairScoreCache(tmp_path / f"{'cd' * 32}.sqlite3")
    other.close()
    with sqlite3.connect(tmp_path / f"{'cd' * 32}.sqlite3") as db:
        db.execute("ATTACH ? AS src", (str(path),))
        db.execute("INSERT INTO scores SELECT * FROM src.scores")
    found, said = _get(PairScoreCache(tmp_path / f"{'cd' * 32}.sqlite3"), list(SCORES))
    assert found == {}
    assert len(said) == 1


def _damage_empty(path: Path) -> None:
    path.write_bytes(b"")


def _damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:5000])


def _damage_garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database" * 400)


def _damage_header_only(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _older_layout(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE scores (pair TEXT PRIMARY KEY, score REAL NOT NULL, seconds REAL NOT NULL)")
        db.execute("INSERT INTO scores VALUES (?, 99.0, 0.1)", ("a" * 64,))


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_damage_empty, "is empty (0 bytes)"),
        (_damage_truncate, "is truncated"),
        (_damage_garbage, "is not a SQLite database"),
        (_damage_header_only, "is truncated"),
        (_older_layout, "of another version"),
    ],
)
def test_a_damaged_file_is_detected_discarded_and_rebuilt(tmp_path: Path, damage: Any, said: str) -> None:
    path, store = _store(tmp_path)
    store.close()
    _settle(path)
    damage(path)
    rebuilt, warned = _reopen(path)
    assert len(warned) == 1, warned
    assert said in warned[0]
    assert str(path) in warned[0]
    assert rebuilt.get(list(SCORES)) == {}  # nothing from the damaged file is trusted
    rebuilt.put(SCORES)
    assert rebuilt.get(list(SCORES)) == SCORES
    rebuilt.close()
    assert _reopen(path)[1] == []


class _FullDisk:
    """A connection whose writes fail as SQLite fails on a full disk (sqlite3 is C: os-level
    fault injection cannot reach it)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    def executemany(self, *_: Any) -> None:
        exc = sqlite3.OperationalError("database or disk is full")
        exc.sqlite_errorname = "SQLITE_FULL"
        raise exc


def test_a_full_disk_is_one_cache_error_and_stores_nothing(tmp_path: Path) -> None:
    path, store = _store(tmp_path)
    store.db = _FullDisk(store.db)  # type: ignore[assignment]
    with pytest.raises(CacheError) as info:
        store.put({"d" * 64: (1.0, 0.1, 0.01)})
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: cannot write the pair-score cache: no space left on the device")
    assert "HARNESS_CACHE_DIR" in text
    assert "cache: false" in text
    assert not store.db.in_transaction  # rolled back, usable again
    store.db = store.db.db  # type: ignore[attr-defined]
    assert store.get([*SCORES, "d" * 64]) == SCORES


def test_an_unwritable_folder_is_one_cache_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fsfaults import read_only

    folder = tmp_path / "ro"
    folder.mkdir()
    read_only(monkeypatch, folder, errno.EACCES)
    with pytest.raises(CacheError, match="permission denied"):
        PairScoreCache(folder / f"{'ab' * 32}.sqlite3")


def test_checksum_is_exact() -> None:
    assert row_checksum("s", "p", 0.1, 0.2, 0.3) == row_checksum("s", "p", 0.1, 0.2, 0.3)
    assert row_checksum("s", "p", 0.1, 0.2, 0.3) != row_checksum("s", "p", math.nextafter(0.1, 1.0), 0.2, 0.3)
    assert row_checksum("s", "p", 0.0, 0.2, 0.3) != row_checksum("s", "p", -0.0, 0.2, 0.3)
    assert row_checksum("s", "p", 0.1, 0.2, 0.3) != row_checksum("s", "p", 0.1, 0.2, 0.4)
