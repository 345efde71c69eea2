"""Shared fixtures for tests/unit, tests/contract and tests/integration: the real data root (never
copied into the repo), the SciFact slice the model tests share, and the per-test environment.
Helper functions are in tests/support.py (test modules never import this file)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import REPO

if TYPE_CHECKING:
    from harness.data.dataset import Dataset

SLICE_DOCS, SLICE_QUERIES = 200, 10


def _data_root() -> Path:
    return Path(os.environ.get("HARNESS_DATA_ROOT") or REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder. Without it, the tests that need it skip saying so; with
    HARNESS_REQUIRE_DATA=1 (CI: .ci/run) they fail instead."""
    root = _data_root()
    if not (root / "beir" / "scifact").is_dir():
        reason = f"test data not found at {root}: set HARNESS_DATA_ROOT to the shared data folder"
        if os.environ.get("HARNESS_REQUIRE_DATA") == "1":
            pytest.fail(f"{reason} (HARNESS_REQUIRE_DATA=1: tests that need the data may not skip)")
        pytest.skip(reason)
    return root


@pytest.fixture(scope="session")
def trec_eval_dir(data_root: Path) -> Path:
    """trec_eval's own test fixtures (qrels, runs, expected outputs)."""
    return data_root / "trec_eval"


@pytest.fixture(scope="session")
def scifact_slice(data_root: Path) -> Dataset:
    """The contract tests' slice of SciFact test: the judged docs of the first 10 queries, then
    corpus order up to 200 documents. The model tests use it too (same slice, same cache keys)."""
    from harness.data.dataset import Dataset
    from harness.data.ref import DatasetRef
    from harness.data.resolve import load_dataset

    full = load_dataset(DatasetRef(id="beir/scifact", split="test"), data_root)
    qids = list(full.queries)[:SLICE_QUERIES]
    keep: dict[str, None] = {}
    for q in qids:
        keep.update(dict.fromkeys(full.qrels[q]))
    for d in full.docs:
        if len(keep) >= SLICE_DOCS:
            break
        keep.setdefault(d)
    return Dataset(
        name="scifact-slice",
        source="test",
        location=str(data_root / "beir" / "scifact"),
        docs={d: full.docs[d] for d in keep},
        queries={q: full.queries[q] for q in qids},
        qrels={q: full.qrels[q] for q in qids},
        subset=f"contract:{SLICE_DOCS}docs,{SLICE_QUERIES}queries",
    )


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(_data_root()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if "HARNESS_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module-scoped fixtures run before the per-test environment above: this points them at the
    same temporary cache, so nothing lands in the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        if "HARNESS_CACHE_DIR" not in os.environ:
            mp.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield
