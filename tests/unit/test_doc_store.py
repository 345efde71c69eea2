"""The document store: a corpus file converted once into an Arrow file in the artefact cache, read
back as the same documents in the same order, by batch and by id; its fingerprints are the ones
an in-memory corpus gets; bad files fail with file:line and leave no entry; a changed file gets a
new store; a corrupted store is rebuilt; an unwritable cache falls back to memory."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import harness.data.dataset as dataset_mod
import harness.data.doc_store as doc_store
from harness.cache import ArtefactStore
from harness.data.beir_files import open_corpus, read_corpus
from harness.data.dataset import Dataset
from harness.data.doc_store import DocStore
from harness.errors import DataError
from harness.records import Doc, Query
from harness.systems._indexing import corpus_batches, corpus_fingerprint

LINES = [
    {"_id": "d1", "title": "Héllo", "text": "first document"},
    {"_id": "d2", "title": "", "text": "second\twith tab"},
    {"_id": 3, "text": "an integer id and no title"},
    {"_id": "d4", "title": None, "text": None},
    {"_id": "d5", "title": "emoji 🧪", "text": "last"},
]


def _write(path: Path, lines: list[dict[str, object]] | list[str], gz: bool = False) -> Path:
    text = "".join((ln if isinstance(ln, str) else json.dumps(ln, ensure_ascii=False)) + "\n" for ln in lines)
    if gz:
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _dataset(docs: object) -> Dataset:
    return Dataset(
        name="t",
        source="beir",
        location="x",
        docs=docs,  # type: ignore[arg-type]
        queries={"q1": Query("q1", "hello")},
        qrels={"q1": {"d1": 1}},
    )


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An artefact cache of the test's own: the tests count its entries."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two rows a record batch, so that five documents cross batch boundaries."""
    monkeypatch.setattr(doc_store, "BATCH_ROWS", 2)


@pytest.mark.parametrize("gz", [False, True])
def test_the_store_reads_back_the_documents_the_file_holds(tmp_path: Path, small_batches: None, gz: bool) -> None:
    path = _write(tmp_path / ("corpus.jsonl.gz" if gz else "corpus.jsonl"), LINES, gz=gz)
    store = open_corpus(path)
    assert isinstance(store, DocStore)
    expected = read_corpus(path)
    assert list(store) == ["d1", "d2", "3", "d4", "d5"] == list(expected)
    assert list(store.values()) == list(expected.values())
    assert [len(b) for b in store.batches()] == [2, 2, 1]
    assert store["d5"] == Doc("d5", "emoji 🧪", "last")
    assert store["d4"] == Doc("d4", "", "")
    assert store["3"] == Doc("3", "", "an integer id and no title")
    assert "d2" in store
    assert "nope" not in store
    assert store.get("nope") is None
    with pytest.raises(KeyError):
        store["nope"]
    assert len(store) == 5
    assert dict(store.items()) == expected
    # A row range (a shard) reads the batches that hold it, across batch boundaries.
    every = list(expected.values())
    for start in range(6):
        for stop in range(start, 7):
            assert store.rows(start, stop) == every[start:stop], (start, stop)


def test_fingerprints_are_those_of_the_same_documents_in_memory(
    tmp_path: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "corpus.jsonl", LINES)
    on_disk, in_memory = _dataset(open_corpus(path)), _dataset(read_corpus(path))
    assert on_disk.fingerprint == in_memory.fingerprint
    assert corpus_fingerprint(on_disk) == corpus_fingerprint(in_memory)
    assert [d for b in corpus_batches(on_disk, "t", 2) for d in b] == list(in_memory.docs.values())
    # The dataset fingerprint is remembered with the store: a later load does not read the
    # documents again, and a change to the queries is still seen.
    monkeypatch.setattr(dataset_mod, "_digest", lambda ds: pytest.fail("read every document again"))
    assert _dataset(open_corpus(path)).fingerprint == in_memory.fingerprint
    with pytest.raises(pytest.fail.Exception):
        Dataset(name="t", source="beir", location="x", docs=open_corpus(path), queries={}, qrels={})


def test_a_changed_file_gets_a_new_store(tmp_path: Path) -> None:
    path = _write(tmp_path / "corpus.jsonl", LINES)
    before = open_corpus(path)
    _write(path, [*LINES[:-1], {**LINES[-1], "text": "lasT"}])
    after = open_corpus(path)
    assert isinstance(before, DocStore)
    assert isinstance(after, DocStore)
    assert after["d5"].text == "lasT"
    assert after.fingerprint != before.fingerprint
    assert [e.kind for e in ArtefactStore().entries()].count("doc-store") == 2


@pytest.mark.parametrize(
    ("lines", "message", "line"),
    [
        ([LINES[0], LINES[1], {"_id": "d1", "text": "x"}], r"document id 'd1' appears twice \(first on line 1\)", 3),
        ([LINES[0], "{not json"], "invalid JSON in corpus", 2),
        ([LINES[0], {"_id": 1.5, "text": "x"}], "'_id' is 1.5, not a string", 2),
    ],
)
def test_a_bad_corpus_fails_with_file_and_line_and_leaves_no_store(
    tmp_path: Path, lines: list[dict[str, object]] | list[str], message: str, line: int
) -> None:
    path = _write(tmp_path / "corpus.jsonl", lines)
    with pytest.raises(DataError, match=message) as caught:
        open_corpus(path)
    assert f"{path}:{line}" in str(caught.value)
    assert [e.kind for e in ArtefactStore().entries()] == []
    assert not any(p.name.endswith(".tmp") for p in (ArtefactStore().root / "doc-store").rglob("*"))


def test_a_corrupted_store_is_rebuilt(tmp_path: Path) -> None:
    path = _write(tmp_path / "corpus.jsonl", LINES)
    store = open_corpus(path)
    assert isinstance(store, DocStore)
    data = bytearray(store.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    store.path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupted or truncated"):
        again = open_corpus(path)
    assert dict(again.items()) == read_corpus(path)


def test_the_cache_lists_and_clears_a_store(tmp_path: Path) -> None:
    open_corpus(_write(tmp_path / "corpus.jsonl", LINES))
    cache = ArtefactStore()
    (entry,) = cache.entries()
    assert (entry.kind, entry.meta["docs"]) == ("doc-store", 5)
    assert entry.size == sum(p.stat().st_size for p in (cache.root / "doc-store").rglob("*.arrow"))
    assert cache.clear() == 1
    assert not (cache.root / "doc-store").exists()
    assert cache.owned_files() == []


def test_an_unwritable_cache_reads_the_corpus_into_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(blocker / "cache"))
    path = _write(tmp_path / "corpus.jsonl", LINES)
    with pytest.warns(UserWarning, match="reading the corpus .* into memory instead"):
        docs = open_corpus(path)
    assert not isinstance(docs, DocStore)
    assert docs == read_corpus(path)


def test_in_memory_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CORPUS_IN_MEMORY", "1")
    docs = open_corpus(_write(tmp_path / "corpus.jsonl", LINES))
    assert not isinstance(docs, DocStore)
    assert ArtefactStore().entries() == []
