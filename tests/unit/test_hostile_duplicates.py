"""Hostile data files, continued: repeated ids and judgments (refused naming both lines, or an
exact repeated judgment accepted), JSON values that would be converted silently, contradictory
dataset references."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.data.beir_files import read_corpus, read_queries
from harness.data.ref import DatasetRef
from harness.data.trec import read_qrels, read_topics
from tests.hostile import SETTINGS, ids, raises_at
from tests.support import run_cli


@SETTINGS
@given(qids=st.lists(ids, min_size=1, max_size=8), gz=st.booleans())
def test_repeated_ids_name_both_lines(tmp_path: Path, qids: list[str], gz: bool) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(json.dumps({"_id": q, "text": f"text {q}"}) + "\n" for q in qids))
    corpus = tmp_path / ("corpus.jsonl.gz" if gz else "corpus.jsonl")
    body = "".join(json.dumps({"_id": q, "title": "", "text": "x"}) + "\n" for q in qids).encode()
    corpus.write_bytes(gzip.compress(body) if gz else body)
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"{q}\ttext\n" for q in qids))
    seen: dict[str, int] = {}
    dup = next(((seen[q], i) for i, q in enumerate(qids, start=1) if seen.setdefault(q, i) != i), None)
    for path, read in ((queries, read_queries), (corpus, read_corpus), (topics, read_topics)):
        if dup is None:
            assert list(read(path)) == qids
        else:
            with raises_at(path, dup[1], "appears twice", f"first on line {dup[0]}"):
                read(path)


@SETTINGS
@given(first=st.integers(0, 3), second=st.integers(0, 3), gap=st.integers(0, 3), beir=st.booleans())
def test_repeated_judgment_same_label_accepted_other_label_refused(
    tmp_path: Path, first: int, second: int, gap: int, beir: bool
) -> None:
    def row(q: str, d: str, r: int) -> str:
        return f"{q}\t{d}\t{r}" if beir else f"{q} 0 {d} {r}"

    lines = (["query-id\tcorpus-id\tscore"] if beir else []) + [row("q", "d", first)]
    lines += [row("q", f"o{i}", 1) for i in range(gap)] + [row("q", "d", second)]
    path = tmp_path / "qrels"
    path.write_text("\n".join(lines) + "\n")
    if first == second:
        assert read_qrels(path)["q"]["d"] == first
    else:
        at = 2 + int(beir)
        with raises_at(path, at + gap, "twice with different labels", f"({first} on line {at - 1}, {second} here)"):
            read_qrels(path)


# --- JSON values and dataset references -------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "needles"),
    [
        ('{"_id": null, "text": "x"}', ["'_id' is null"]),
        ('{"_id": 1.0, "text": "x"}', ["'_id' is 1.0"]),
        ('{"_id": true, "text": "x"}', ["'_id' is true"]),
        ('{"_id": "a", "text": ["x", "y"]}', ["'text' is a JSON list"]),
        ('{"_id": "a", "_id": "b", "text": "x"}', ["key '_id' appears twice"]),
        ('{"_id": "#a", "text": "x"}', ["starts with '#'"]),
    ],
)
def test_json_values_that_would_be_converted_silently(tmp_path: Path, line: str, needles: list[str]) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": "ok", "text": "fine"}\n' + line + "\n")
    with raises_at(path, 2, *needles):
        read_queries(path)


def test_integer_ids_and_null_titles_are_read_as_documented(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": 7, "title": null, "text": "x"}\n{"_id": "8"}\n')
    docs = read_corpus(path)
    assert list(docs) == ["7", "8"]
    assert docs["7"].title == ""
    assert docs["8"].text == ""


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"id": "beir/scifact/test", "path": "x"}, "'id' and 'path'"),
        ({"id": "beir/scifact/test", "qrels": "q", "topics": "t"}, "'id' and 'topics/qrels/corpus'"),
        ({"path": "x", "corpus": "c"}, "'path' and 'topics/qrels/corpus'"),
        ({"topics": "t"}, "need both 'topics' and 'qrels'"),
        ({"qrels": "q", "corpus": "c"}, "need both 'topics' and 'qrels'"),
        ({"topics": "t", "qrels": "q", "split": "test"}, "'split' applies to 'id' and 'path'"),
        ({"id": ""}, "at least 1 character"),
        ({}, "needs 'id', 'path'"),
    ],
)
def test_contradictory_dataset_references(fields: dict[str, str], needle: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(needle)):
        DatasetRef.model_validate(fields)


def test_contradictory_reference_in_a_spec_names_its_line(tmp_path: Path) -> None:

    spec = tmp_path / "spec.yaml"
    datasets = "  - beir/scifact/test\n  - {id: beir/nfcorpus/test, path: x}\n"
    spec.write_text(f"name: x\ndatasets:\n{datasets}systems:\n  b: {{type: bm25}}\n")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 2
    assert err.count("\n") == 1
    assert f"{spec}:4:" in err
    assert "'id' and 'path'" in err
