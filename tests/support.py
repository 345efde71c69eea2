"""Helpers the test modules import (`from tests.support import ...`): paths, the in-process CLI,
spec files, results.json. Fixtures live in tests/conftest.py; hostile-input helpers in
tests/hostile.py; simulated file-system faults (read-only folder, full disk) in tests/fsfaults.py."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
"""The checkout: pyproject.toml, harness/, experiments/, README.md."""


def memory_dataset(texts: dict[str, str], queries: dict[str, str]) -> Any:
    """A Dataset held in memory: documents with a text and no title, each query judging d1."""
    from harness.data.dataset import Dataset
    from harness.records import Doc, Query

    return Dataset(
        name="tiny",
        source="test",
        location="memory",
        docs={d: Doc(d, "", t) for d, t in texts.items()},
        queries={q: Query(q, t) for q, t in queries.items()},
        qrels={q: {"d1": 1} for q in queries},
    )


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run `harness` in-process; returns (exit code, stdout, stderr)."""
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a `python -m harness` (or `python -c`) child: this one (with the
    per-test settings of conftest's autouse fixture), the checkout importable, plus `extra`."""
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    """Write a spec's YAML text to `folder/name`; returns its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_clear_line(code: int, err: str, *needles: str) -> None:
    """Bad input: exit code 2 and one line on stderr, no traceback, holding every needle."""
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def read_results(out: Path) -> dict[str, Any]:
    """An output folder's result set as plain JSON: results.json with the per-query table it
    names merged back in (harness.result_tables), as every reader of results sees it."""
    from harness.results import ResultSet

    return ResultSet.load(out).to_dict()


def aggregates(out: Path) -> dict[str, dict[str, float]]:
    """System -> measure -> aggregate value, from an output folder of one dataset."""
    return {c["system"]: c["aggregate"] for c in read_results(out)["cells"]}
