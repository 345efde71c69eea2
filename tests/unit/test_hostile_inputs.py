"""Every parser either parses or raises a typed HarnessError with the file (and line):
property-based over random and mutated inputs, plus the specific nasty cases."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.data.beir_files import read_corpus, read_queries
from harness.data.trec import read_qrels, read_run, read_topics
from harness.errors import HarnessError
from harness.plan import load_plan

PARSERS: dict[str, Callable[[Path], Any]] = {
    "run": read_run,
    "qrels": read_qrels,
    "topics": read_topics,
    "corpus": read_corpus,
    "queries": read_queries,
    "spec": load_plan,
}

VALID = {
    "run": b"q1 Q0 d1 1 2.5 tag\nq1 Q0 d2 2 1.5 tag\nq2 Q0 d1 1 0.5 tag\n",
    "qrels": b"q1 0 d1 1\nq1 0 d2 0\nq2 0 d1 2\n",
    "topics": b"q1\tcells in mice\nq2\tvitamin d\n",
    "corpus": b'{"_id": "d1", "title": "t", "text": "x"}\n{"_id": "d2", "title": "", "text": "y"}\n',
    "queries": b'{"_id": "q1", "text": "cells"}\n',
    "spec": b"name: x\ndatasets: [beir/scifact/test]\nsystems:\n  b: {type: bm25, k1: [0.9, 1.2]}\n",
}

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _parse_or_typed_error(kind: str, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    error: HarnessError | None = None
    try:
        PARSERS[kind](path)
    except HarnessError as exc:
        error = exc
    if error is not None:
        assert error.path is not None, f"{kind}: error without a file: {error}"
        assert str(path) in str(error)


@pytest.mark.parametrize("kind", sorted(PARSERS))
@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(tmp_path: Path, kind: str, data: bytes) -> None:
    _parse_or_typed_error(kind, tmp_path / f"f.{kind}", data)


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(
                st.sampled_from([b"\t", b" ", b"\n", b"\r\n", b"\xff", b"nan", b"\x00", b"{", b"'", b": "])
            )
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "dup":
            data += data[pos:]
    return bytes(data)


@pytest.mark.parametrize("kind", sorted(PARSERS))
@SETTINGS
@given(seed=st.data())
def test_mutated_valid_files(tmp_path: Path, kind: str, seed: st.DataObject) -> None:
    data = seed.draw(mutated(VALID[kind]))
    _parse_or_typed_error(kind, tmp_path / f"m.{kind}", data)


@pytest.mark.parametrize("kind", sorted(set(PARSERS) - {"spec"}))
@SETTINGS
@given(seed=st.data())
def test_mutated_gzip_files(tmp_path: Path, kind: str, seed: st.DataObject) -> None:
    packed = gzip.compress(VALID[kind] * 50)
    cut = seed.draw(st.integers(0, len(packed)))
    _parse_or_typed_error(kind, tmp_path / f"g.{kind}.gz", packed[:cut])


@pytest.mark.parametrize(
    ("kind", "data", "match"),
    [
        ("run", b"q1 Q0 d1 1 inf t\n", "not finite"),
        ("run", b"q1 Q0 d1 1 -Infinity t\n", "not finite"),
        ("run", b"q1 Q0 d1 1 1 t\nq1 Q0 d1 2 0.5 t\n", "appears twice"),
        ("run", b"", "empty"),
        ("qrels", b"\n\n", "no judgments"),
        ("topics", b"q1\t   \n", "no text"),
        ("queries", b'{"_id": "q1", "text": ""}\n', "no text"),
        ("run", b"q1 Q0 d1 1 1 t\n\xff\xfe\n", "invalid UTF-8"),
        ("corpus", b'{"_id": "d 1", "text": "x"}\n', "whitespace"),
        ("topics", b"q 1\ttext\n", "whitespace"),
        ("run", b"x" * 10_000_000 + b"\n", "1 columns"),
        ("queries", b'{"_id": "q1"}\n', "lacks 'text'"),
        ("corpus", b"[1, 2]\n", "not a JSON object"),
    ],
)
def test_specific_hostile_cases(tmp_path: Path, kind: str, data: bytes, match: str) -> None:
    path = tmp_path / f"h.{kind}"
    path.write_bytes(data)
    with pytest.raises(HarnessError, match=match) as exc:
        PARSERS[kind](path)
    assert exc.value.path == str(path)


def test_crlf_and_bom_are_accepted(tmp_path: Path) -> None:
    p = tmp_path / "run"
    p.write_bytes(b"\xef\xbb\xbfq1 Q0 d1 1 2.5 t\r\nq1 Q0 d2 2 1.5 t\r\n")
    run = read_run(p)
    assert [d.doc_id for d in run["q1"]] == ["d1", "d2"]
    q = tmp_path / "qrels"
    q.write_bytes(b"\xef\xbb\xbfq1 0 d1 1\r\n")
    assert read_qrels(q) == {"q1": {"d1": 1}}
