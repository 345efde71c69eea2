"""Shared fixtures: the real data root (never copied into the repo) and CLI runner."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.data.dataset import Dataset

REPO = Path(__file__).resolve().parent.parent


def _data_root() -> Path:
    return Path(os.environ.get("HARNESS_DATA_ROOT") or REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if not (root / "beir" / "scifact").is_dir():
        pytest.fail(f"test data not found at {root}: set HARNESS_DATA_ROOT to the shared data folder")
    return root


def scifact_slice(data_root: Path, n_docs: int = 200, n_queries: int = 10) -> Dataset:
    """The contract tests' slice of SciFact test: the judged docs of the first `n_queries`
    queries, then corpus order up to `n_docs` documents."""
    from harness.data.dataset import Dataset
    from harness.data.ref import DatasetRef
    from harness.data.resolve import load_dataset

    full = load_dataset(DatasetRef(id="beir/scifact", split="test"), data_root)
    qids = list(full.queries)[:n_queries]
    keep: dict[str, None] = {}
    for q in qids:
        keep.update(dict.fromkeys(full.qrels[q]))
    for d in full.docs:
        if len(keep) >= n_docs:
            break
        keep.setdefault(d)
    return Dataset(
        name="scifact-slice",
        source="test",
        location=str(data_root / "beir" / "scifact"),
        docs={d: full.docs[d] for d in keep},
        queries={q: full.queries[q] for q in qids},
        qrels={q: full.qrels[q] for q in qids},
        subset=f"contract:{n_docs}docs,{n_queries}queries",
    )


@pytest.fixture(scope="session")
def trec_eval_dir(data_root: Path) -> Path:
    return data_root / "trec_eval"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(_data_root()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if "HARNESS_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run `harness` in-process; returns (exit code, stdout, stderr)."""
    import contextlib
    import io

    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()
