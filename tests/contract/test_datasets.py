"""Datasets resolve from the local data root with the counts the data README pins."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data.catalog import list_local
from harness.data.ref import DatasetRef, QuerySubset
from harness.data.resolve import load_dataset
from harness.errors import DataError


def test_scifact_test_counts(data_root: Path) -> None:
    ds = load_dataset(DatasetRef(id="beir/scifact/test"), data_root)
    assert ds.source == "beir"
    assert len(ds.docs) == 5183
    assert len(ds.queries) == 300  # the judged test queries, not all 1,109 in queries.jsonl
    assert sum(len(v) for v in ds.qrels.values()) == 339
    first = next(iter(ds.queries.values()))
    assert first.query_id == "1"
    assert first.text.startswith("0-dimensional biomaterials")


def test_split_by_field_equals_split_in_id(data_root: Path) -> None:
    a = load_dataset(DatasetRef(id="msmarco/trec-dl/dl19-full"), data_root)
    b = load_dataset(DatasetRef(id="msmarco/trec-dl", split="dl19-full"), data_root)
    assert a.fingerprint == b.fingerprint
    assert len(a.queries) == 43
    assert sum(len(v) for v in a.qrels.values()) == 9260


def test_fingerprint_changes_with_subset_and_is_stable(data_root: Path) -> None:
    full = load_dataset(DatasetRef(id="beir/scifact/test"), data_root)
    again = load_dataset(DatasetRef(id="beir/scifact/test"), data_root)
    first = load_dataset(DatasetRef(id="beir/scifact/test", queries=QuerySubset(first=10)), data_root)
    s1 = load_dataset(DatasetRef(id="beir/scifact/test", queries=QuerySubset(sample=10, seed=1)), data_root)
    s1b = load_dataset(DatasetRef(id="beir/scifact/test", queries=QuerySubset(sample=10, seed=1)), data_root)
    s2 = load_dataset(DatasetRef(id="beir/scifact/test", queries=QuerySubset(sample=10, seed=2)), data_root)
    assert full.fingerprint == again.fingerprint
    assert len({full.fingerprint, first.fingerprint, s1.fingerprint, s2.fingerprint}) == 4
    assert list(first.queries) == list(full.queries)[:10]
    assert list(s1.queries) == list(s1b.queries)
    assert list(s1.queries) != list(s2.queries)
    assert set(s1.qrels) == set(s1.queries)


def test_trec_files_source(tmp_path: Path, data_root: Path) -> None:
    topics = tmp_path / "topics.tsv"
    topics.write_text("\ufeffq1\tcells in mice\r\nq2\tvitamin d\r\n", encoding="utf-8")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\nq2 0 d2 2\n")
    ds = load_dataset(DatasetRef(topics=str(topics), qrels=str(qrels)), data_root)
    assert ds.source == "trec"
    assert [q.text for q in ds.queries.values()] == ["cells in mice", "vitamin d"]


def test_judged_query_without_text_is_an_error(tmp_path: Path, data_root: Path) -> None:
    (tmp_path / "t.tsv").write_text("q1\ttext\n")
    (tmp_path / "q.txt").write_text("q1 0 d1 1\nq9 0 d1 1\n")
    with pytest.raises(DataError, match="judged queries have no text"):
        load_dataset(DatasetRef(topics=str(tmp_path / "t.tsv"), qrels=str(tmp_path / "q.txt")), data_root)


def test_unknown_split_lists_splits(data_root: Path) -> None:
    with pytest.raises(DataError, match="splits here: dl19, dl19-full, dl20, dl20-full"):
        load_dataset(DatasetRef(id="msmarco/trec-dl", split="dl21"), data_root)


def test_catalog_lists_local_datasets(data_root: Path) -> None:
    rows = {r.id: r for r in list_local(data_root)}
    assert rows["beir/scifact/test"].docs == 5183
    assert rows["beir/scifact/test"].judged == 300
    assert rows["beir/nfcorpus/test"].judged == 323
    assert rows["msmarco/trec-dl/dl20-full"].judgments == 11386
    assert "classic/cranfield/test" in rows
