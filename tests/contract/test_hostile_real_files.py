"""Hostile data made of the shared data's real files: a repeated id in SciFact's queries and
trec_eval's multi-assessor qrels are refused naming both lines. (Generated hostile files:
tests/unit/test_hostile_*.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from harness.data.beir_files import read_queries
from harness.data.trec import read_qrels
from tests.hostile import raises_at


def test_real_scifact_queries_with_one_repeated_id(tmp_path: Path, data_root: Path) -> None:
    src = (data_root / "beir" / "scifact" / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(src[0])
    path = tmp_path / "queries.jsonl"
    path.write_text("\n".join([*src, json.dumps({"_id": first["_id"], "text": "another text"})]) + "\n")
    with raises_at(path, len(src) + 1, f"query id '{first['_id']}' appears twice (first on line 1)"):
        read_queries(path)


def test_trec_eval_multi_assessor_qrels_are_refused(trec_eval_dir: Path) -> None:
    # qrels.123 is trec_eval's -R qrels_jg format: several assessors judge the same documents.
    with raises_at(trec_eval_dir / "qrels.123", 3686, "twice with different labels", "(0 on line 5, 3 here)"):
        read_qrels(trec_eval_dir / "qrels.123")
