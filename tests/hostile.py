"""Helpers shared by the hostile-input tests (data files and specs)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from harness.errors import DataError
from tests.support import run_cli

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Ids as data files hold them (no whitespace; '#' inside but never first).
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.:#", min_size=1, max_size=8).filter(
    lambda s: not s.startswith("#")
)


@contextlib.contextmanager
def raises_at(path: Path, line: int | None, *needles: str) -> Iterator[None]:
    """A DataError at that file and line, in one line of text, containing every needle."""
    with pytest.raises(DataError) as info:
        yield
    text = str(info.value)
    assert "\n" not in text, text
    assert text.startswith(f"{path}:{line}: " if line is not None else f"{path}: "), text
    for n in needles:
        assert n in text, text


def assert_run_refuses(spec: Path, error: str) -> None:
    """`harness run SPEC -o OUT` prints `error` alone, exits 2 and creates no OUT."""
    out = spec.parent / "out"
    code, stdout, stderr = run_cli("run", str(spec), "-o", str(out), "-q")
    assert (code, stdout, stderr) == (2, "", f"error: {error}\n")
    assert not out.exists()
