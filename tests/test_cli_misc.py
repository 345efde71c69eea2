"""CLI odds and ends: internal errors exit 3 with a traceback, output paths stay inside."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness.runner import slug
from tests.conftest import REPO, run_cli


def test_internal_error_exits_3_with_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import harness.runner

    def boom(*_: object, **__: object) -> None:
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(harness.runner, "run_experiment", boom)
    code, _, err = run_cli("run", str(REPO / "experiments" / "scifact-bm25.yaml"), "-o", str(tmp_path), "-q")
    assert code == 3
    assert "Traceback" in err
    assert "internal error" in err


def test_usage_error_exits_2() -> None:
    code, _, _ = run_cli("eval")
    assert code == 2


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path", "..", "a/b\\c", "x y"])
def test_slug_never_escapes_the_output_folder(tmp_path: Path, name: str) -> None:
    s = slug(name)
    assert "/" not in s
    assert "\\" not in s
    assert s not in ("", ".", "..")
    assert (tmp_path / s).resolve().parent == tmp_path.resolve()


def test_systems_command_lists_types_and_defaults() -> None:
    code, out, _ = run_cli("systems")
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("bm25:"))
    assert "k1=0.9" in line
    assert "b=0.4" in line


def test_version_option() -> None:
    from harness import __version__

    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.strip() == f"harness {__version__}"


def test_written_files_follow_the_umask_like_plain_files(tmp_path: Path) -> None:
    from harness.fsutil import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        (tmp_path / "plain").write_text("x")
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    finally:
        os.umask(old)
