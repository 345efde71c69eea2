"""The pair-score store through `harness run`: a flipped bit in one stored cross-encoder score,
or an empty (0-byte) store, is detected with one warning, the affected pairs are scored again,
and the results equal those of the undamaged run exactly."""

from __future__ import annotations

import contextlib
import sqlite3
import struct
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.support import read_results, run_cli

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

SPEC = """\
name: pair-integrity
datasets: [{id: msmarco/trec-dl/dl19-full, name: dl19, queries: {first: 2}}]
measures: [nDCG@10]
latency: {mode: 'off'}
systems:
  bm25: {type: run, path: "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/bm25-{dataset}.trec", depth: 10}
  ce:
    - {type: use, system: bm25, depth: 10}
    - {type: rerank, model: ms-marco-MiniLM-L-12-v2, top: 10}
"""
PAIRS = 2 * 10


def _run(tmp_path: Path, out: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(the rerank stage's costs, what must not change, the pair-score warnings) of one run."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / out), "-q", "--no-report")
    assert code == 0, err
    cells = {c["system"]: c for c in read_results(tmp_path / out)["cells"]}
    costs = cells["ce"]["timing"]["stages"][1]["costs"]
    results = {
        "per_query": cells["ce"]["per_query"],
        "run": (tmp_path / out / "runs" / "dl19" / "ce.trec.gz").read_bytes(),
    }
    return costs, results, [str(w.message) for w in caught if "pair-score cache" in str(w.message)]


def _store(cache: Path) -> Path:
    (db,) = (cache / "pair-scores").glob("*.sqlite3")
    # Everything into the file itself (a closed store's state), so its bytes can be edited.
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def test_a_flipped_bit_in_a_stored_score_is_rescored_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    costs, clean, said = _run(tmp_path, "clean")
    assert (costs["pairs_scored"], said) == (PAIRS, [])
    db = _store(cache)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        ((score,),) = conn.execute("SELECT score FROM scores ORDER BY pair LIMIT 1").fetchall()
    raw = bytearray(db.read_bytes())
    at = raw.index(struct.pack(">d", score))
    raw[at + 7] ^= 0x01  # the lowest bit of the mantissa: a silent change without the checksum
    db.write_bytes(bytes(raw))

    costs, again, said = _run(tmp_path, "flipped")
    assert len(said) == 1
    assert "1 stored score(s) failed their checksum" in said[0]
    assert (costs["pairs_scored"], costs["pairs_discarded"]) == (1, 1)
    assert again == clean

    costs, again, said = _run(tmp_path, "repaired")  # the rescored pair was stored again
    assert (costs["pairs_scored"], said) == (0, [])
    assert "pairs_discarded" not in costs
    assert again == clean


def test_an_empty_store_file_is_rebuilt_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    _, clean, _ = _run(tmp_path, "clean")
    db = _store(cache)
    db.write_bytes(b"")
    costs, again, said = _run(tmp_path, "emptied")
    assert len(said) == 1
    assert f"pair-score cache {db} is empty (0 bytes); discarding and rebuilding it" == said[0]
    assert costs["pairs_scored"] == PAIRS
    assert again == clean
