"""Shared fixtures: the real data root (never copied into the repo) and CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _data_root() -> Path:
    return Path(os.environ.get("HARNESS_DATA_ROOT") or REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if not (root / "beir" / "scifact").is_dir():
        pytest.fail(f"test data not found at {root}: set HARNESS_DATA_ROOT to the shared data folder")
    return root


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
