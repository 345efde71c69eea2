"""The artefact store marks its root and `harness cache clear` removes only what the store wrote:
a folder that is not recognisably a harness cache is refused whole, unrelated files survive, and
a full or read-only cache is a one-line error that leaves no temporary file behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from harness.cache import MARKER, ArtefactStore
from harness.errors import CacheError
from tests.fsfaults import DiskFull, read_only, temp_files
from tests.support import run_cli

KEY = "ab" * 32
KEY2 = "cd" * 32


def _filled(root: Path) -> ArtefactStore:
    store = ArtefactStore(root)
    store.put("embeddings", KEY, b"vectors", {"seconds": 1.0})
    store.put("faiss-index", KEY2, b"index", {})
    with store.lock("embeddings", KEY2):
        pass
    db = store.db_path("pair-scores", KEY)
    db.write_bytes(b"SQLite format 3\x00")
    db.with_name(db.name + "-wal").write_bytes(b"")
    return store


def _unrelated(folder: Path) -> dict[Path, bytes]:
    """Files a user keeps in a folder, some named like the store's own."""
    files = {
        folder / "notes.txt": b"mine",
        folder / "photos" / "cat.json": b"{}",
        folder / "embeddings" / "readme.md": b"mine too",
        folder / "embeddings" / "ab" / "not-a-key!.bin": b"keep",
        folder / "embeddings" / "ab" / "abcd.json": b"{}",  # in a shard, but not a key's name
        folder / "embeddings" / "abc" / f"{KEY}.bin": b"wrong shard",
        folder / "pair-scores" / "scores.db": b"keep",
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def _survive(files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        assert path.read_bytes() == data, path


def test_the_store_marks_its_root_as_a_cache_directory(tmp_path: Path) -> None:
    store = _filled(tmp_path / "cache")
    tag = (store.root / MARKER).read_text()
    assert tag.startswith("Signature: 8a477f597d28d172789f06886806bc55\n")  # bford.info/cachedir
    assert store.state() == "cache"
    assert {(e.kind, e.key) for e in store.entries()} == {
        ("embeddings", KEY),
        ("faiss-index", KEY2),
        ("pair-scores", KEY),
    }


def test_clear_refuses_a_folder_that_is_not_a_harness_cache(tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    files = _unrelated(folder)
    code, out, err = run_cli("cache", "clear", "--cache-dir", str(folder))
    assert code == 2, (out, err)
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: {folder}: is not a harness cache")
    assert "nothing was removed" in line
    assert "--cache-dir" in line
    assert "removed" not in out
    _survive(files)
    code, _, err = run_cli("cache", "clear", "--cache-dir", str(folder / "notes.txt"))
    assert code == 2
    assert "it is a file" in err
    _survive(files)


def test_clear_removes_only_what_the_store_wrote(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    store = _filled(root)
    files = _unrelated(root)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / f"{KEY}.bin").write_bytes(b"not through a link")
    os.symlink(outside, root / "embeddings" / "ef")
    code, out, err = run_cli("cache", "clear", "--cache-dir", str(root), "--kind", "embeddings")
    assert code == 0, err
    assert f"removed 1 entries from {root} (embeddings)" in out
    assert {e.kind for e in store.entries()} == {"faiss-index", "pair-scores"}
    code, out, err = run_cli("cache", "clear", "--cache-dir", str(root))
    assert code == 0, err
    assert "removed 2 entries" in out
    assert "kept 8 files harness did not write" in out
    assert store.entries() == []
    _survive(files)
    assert (outside / f"{KEY}.bin").read_bytes() == b"not through a link"
    assert (root / MARKER).is_file()  # still a cache, an empty one
    assert not (root / "faiss-index").exists()


def test_clear_of_nothing_says_so(tmp_path: Path) -> None:
    for folder, said in ((tmp_path / "missing", "does not exist"), (tmp_path, "is empty")):
        code, out, err = run_cli("cache", "clear", "--cache-dir", str(folder))
        assert (code, err) == (0, "")
        assert out.strip() == f"nothing to clear: {folder} {said}"
    assert list(tmp_path.iterdir()) == []


def test_a_cache_written_before_the_marker_is_recognised_by_its_layout(tmp_path: Path) -> None:
    root = tmp_path / "old"
    _filled(root)
    (root / MARKER).unlink()
    assert ArtefactStore(root).state() == "cache"
    code, out, _ = run_cli("cache", "clear", "--cache-dir", str(root))
    assert code == 0
    assert "removed 3 entries" in out
    # The same layout with one foreign file is no longer recognisably ours.
    _filled(root)
    (root / MARKER).unlink()
    (root / "embeddings" / "todo.txt").write_text("mine")
    assert ArtefactStore(root).state() == "foreign"
    with pytest.raises(CacheError, match=r"todo\.txt"):
        ArtefactStore(root).clear()


def test_a_kind_that_is_a_path_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    _filled(root)
    (tmp_path / "precious.txt").write_text("x")
    code, _, err = run_cli("cache", "clear", "--cache-dir", str(root), "--kind", "..")
    assert code == 2
    assert "no entries of kind '..'" in err
    assert (tmp_path / "precious.txt").exists()


def test_cache_list_lists_only_the_stores_files(tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    _unrelated(folder)
    code, out, _ = run_cli("cache", "list", "--cache-dir", str(folder))
    assert code == 0
    assert "(empty)" in out


def test_a_full_disk_while_storing_an_entry_is_one_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "cache"
    store = ArtefactStore(root)
    store.check_writable()
    with monkeypatch.context() as m:
        full = DiskFull(m, lambda p: root in p.parents)
        with pytest.raises(CacheError) as info:
            store.get_or_compute("embeddings", KEY, lambda: (b"x" * 1000, {}))
    assert full.hits
    text = str(info.value)
    assert "\n" not in text
    assert "cannot write the artefact cache: no space left on the device" in text
    assert f"free space on the disk of {root / 'embeddings' / 'ab'}" in text
    assert "HARNESS_CACHE_DIR" in text
    assert temp_files(root) == []
    assert store.get("embeddings", KEY) is None
    data, _, cached = store.get_or_compute("embeddings", KEY, lambda: (b"y", {}))
    assert (data, cached) == (b"y", False)


def test_a_read_only_cache_fails_the_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    read_only(monkeypatch, root, errno.EROFS)
    with pytest.raises(CacheError) as info:
        ArtefactStore(root).check_writable()
    assert str(info.value) == (
        f"{root}: cannot write the artefact cache: the file system is read-only "
        f"(make {root} writable, or set HARNESS_CACHE_DIR to a writable folder)"
    )
    assert list(root.iterdir()) == []
