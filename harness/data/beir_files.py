"""BEIR folders: corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv."""

from __future__ import annotations

import json
from pathlib import Path

from harness.data.textio import read_lines
from harness.data.trec import check_id, read_qrels
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


def _json_objects(path: Path, what: str, required: tuple[str, ...]):  # type: ignore[no-untyped-def]
    for lineno, line in read_lines(path, what=what):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON in {what}: {exc.msg}", path=path, line=lineno) from None
        if not isinstance(obj, dict):
            raise DataError(f"{what} line is not a JSON object", path=path, line=lineno)
        for key in required:
            if key not in obj:
                raise DataError(f"{what} object lacks '{key}'", path=path, line=lineno)
        yield lineno, obj


def read_corpus(path: Path) -> dict[str, Doc]:
    docs: dict[str, Doc] = {}
    for lineno, obj in _json_objects(path, "corpus", ("_id",)):
        did = str(obj["_id"])
        check_id(did, "document", path, lineno)
        if did in docs:
            raise DataError(f"document id '{did}' appears twice", path=path, line=lineno)
        docs[did] = Doc(did, str(obj.get("title") or ""), str(obj.get("text") or ""))
    if not docs:
        raise DataError("corpus file has no documents", path=path)
    return docs


def read_queries(path: Path) -> dict[str, Query]:
    queries: dict[str, Query] = {}
    for lineno, obj in _json_objects(path, "queries", ("_id", "text")):
        qid = str(obj["_id"])
        check_id(qid, "query", path, lineno)
        text = str(obj["text"] or "").strip()
        if not text:
            raise DataError(f"query '{qid}' has no text", path=path, line=lineno)
        queries[qid] = Query(qid, text)
    if not queries:
        raise DataError("queries file is empty", path=path, hint="it must hold one JSON object per line")
    return queries


def load_beir(folder: Path, split: str) -> tuple[dict[str, Doc], dict[str, Query], dict[str, dict[str, int]]]:
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
    return read_corpus(cfile), queries, qrels
