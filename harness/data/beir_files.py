"""BEIR folders: corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.data.fields import check_id
from harness.data.qrels import read_qrels
from harness.data.textio import read_lines
from harness.data.trec import add_query, duplicate_id
from harness.errors import DataError
from harness.records import Doc, Query


def corpus_file(folder: Path) -> Path | None:
    for name in ("corpus.jsonl.gz", "corpus.jsonl"):
        if (folder / name).is_file():
            return folder / name
    return None


def is_beir_folder(folder: Path) -> bool:
    return folder.is_dir() and corpus_file(folder) is not None and (folder / "queries.jsonl").is_file()


def splits(folder: Path) -> list[str]:
    qdir = folder / "qrels"
    return sorted(p.name[: -len(".tsv")] for p in qdir.glob("*.tsv")) if qdir.is_dir() else []


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            # json.loads would keep the last value silently; which one was meant is unknowable.
            raise ValueError(f"key '{key}' appears twice in one object")
        obj[key] = value
    return obj


# One decoder for every line: json.loads(..., object_pairs_hook=...) would build a new one each call.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def _json_objects(path: Path, what: str, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in read_lines(path, what=what):
        if not line.strip():
            continue
        try:
            obj = _DECODER.decode(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON in {what}: {exc.msg}", path=path, line=lineno) from None
        except ValueError as exc:
            raise DataError(f"invalid {what} object: {exc}", path=path, line=lineno) from None
        if not isinstance(obj, dict):
            raise DataError(f"{what} line is not a JSON object", path=path, line=lineno)
        for key in required:
            if key not in obj:
                raise DataError(f"{what} object lacks '{key}'", path=path, line=lineno)
        yield lineno, obj


def _id(obj: dict[str, Any], what: str, path: Path, lineno: int) -> str:
    value = obj["_id"]
    # An integer id has one spelling; a float (1.0 vs 1), bool or null would be turned into a
    # string that no qrels line uses, so they are refused rather than converted.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(
            f"{what} '_id' is {json.dumps(value)[:40]}, not a string",
            path=path,
            line=lineno,
            hint='write ids as JSON strings, e.g. "_id": "123"',
        )
    text = str(value)
    check_id(text, what, path, lineno)
    return text


def _text(obj: dict[str, Any], key: str, what: str, path: Path, lineno: int) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(
            f"{what} '{key}' is a JSON {type(value).__name__}, not a string",
            path=path,
            line=lineno,
            hint=f"write '{key}' as a JSON string",
        )
    return value


CORPUS_READER = "beir-jsonl/1"
"""Names `iter_corpus` and its rules in the key of a corpus's document store: change it whenever
the same bytes would be read into different documents."""


def iter_corpus(path: Path) -> Iterator[Doc]:
    """corpus.jsonl(.gz): `{"_id", "title", "text"}` per line, in file order. A missing or null
    title/text is empty text; a repeated id is an error naming both lines."""
    first_line: dict[str, int] = {}
    for lineno, obj in _json_objects(path, "corpus", ("_id",)):
        did = _id(obj, "document", path, lineno)
        if did in first_line:
            raise duplicate_id("document", did, first_line[did], path, lineno)
        first_line[did] = lineno
        yield Doc(did, _text(obj, "title", "document", path, lineno), _text(obj, "text", "document", path, lineno))
    if not first_line:
        raise DataError("corpus file has no documents", path=path)


def read_corpus(path: Path) -> dict[str, Doc]:
    """The corpus file's documents in memory (`iter_corpus`'s rules)."""
    return {doc.doc_id: doc for doc in iter_corpus(path)}


IN_MEMORY_ENV = "HARNESS_CORPUS_IN_MEMORY"


def open_corpus(path: Path) -> Mapping[str, Doc]:
    """The corpus file's documents from its document store in the artefact cache (converted on
    first use); in memory when the cache cannot be written, with a warning, or when
    $HARNESS_CORPUS_IN_MEMORY is 1 (the same documents either way: benchmarks compare the two)."""
    from harness.data.doc_store import open_store
    from harness.errors import CacheError

    if os.environ.get(IN_MEMORY_ENV) == "1":
        return read_corpus(path)
    try:
        return open_store(path, iter_corpus, CORPUS_READER)
    except CacheError as exc:
        warnings.warn(f"{exc}; reading the corpus {path} into memory instead", stacklevel=2)
        return read_corpus(path)


def read_queries(path: Path) -> dict[str, Query]:
    """queries.jsonl: `{"_id", "text"}` per line; a repeated id is an error naming both lines."""
    queries: dict[str, Query] = {}
    first_line: dict[str, int] = {}
    for lineno, obj in _json_objects(path, "queries", ("_id", "text")):
        qid = _id(obj, "query", path, lineno)
        add_query(queries, first_line, qid, _text(obj, "text", "query", path, lineno).strip(), path, lineno)
    if not queries:
        raise DataError("queries file is empty", path=path, hint="it must hold one JSON object per line")
    return queries


def load_beir(folder: Path, split: str) -> tuple[Mapping[str, Doc], dict[str, Query], dict[str, dict[str, int]]]:
    if not folder.is_dir():
        raise DataError("dataset folder not found", path=folder, hint="check the path or the data root")
    cfile = corpus_file(folder)
    if cfile is None:
        raise DataError("no corpus.jsonl or corpus.jsonl.gz in dataset folder", path=folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        known = ", ".join(splits(folder)) or "none"
        raise DataError(f"no qrels for split '{split}'", path=qrels_path, hint=f"splits here: {known}")
    queries = read_queries(folder / "queries.jsonl")
    qrels = read_qrels(qrels_path)
    return open_corpus(cfile), queries, qrels
