"""CLI odds and ends: registration, exit codes, cheap import, output paths stay inside, the cache
command on a hand-made store."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cache import ArtefactStore
from harness.names import slug
from tests.support import REPO, run_cli


def test_internal_error_exits_3_with_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import harness.runner

    def boom(*_: object, **__: object) -> None:
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(harness.runner, "run_experiment", boom)
    code, _, err = run_cli("run", str(REPO / "experiments" / "scifact-bm25.yaml"), "-o", str(tmp_path), "-q")
    assert code == 3
    assert "Traceback" in err
    assert "internal error" in err


def test_interrupt_exits_130_and_says_how_to_resume(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import harness.runner

    def stop(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(harness.runner, "run_experiment", stop)
    code, _, err = run_cli("run", str(REPO / "experiments" / "scifact-bm25.yaml"), "-o", str(tmp_path), "-q")
    assert code == 130
    assert "re-run to resume" in err


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
    line = next(ln for ln in out.splitlines() if ln.startswith("bm25 "))
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


# Every command and sub-command; a command added to harness/cli/ belongs here and in the README table.
EXPECTED_COMMANDS = {
    "run": set(),
    "report": set(),
    "compare": set(),
    "export": set(),
    "track": set(),
    "snapshot": {"save"},
    "gate": set(),
    "eval": set(),
    "datasets": set(),
    "systems": set(),
    "cache": {"list", "clear"},
    "clicks": {"fit", "sample"},
}


def test_app_has_every_command_without_calling_main() -> None:
    """Registration happens at import: `harness.cli.app` alone is complete (no main() in this code)."""
    code = (
        "import json, typer.main, harness.cli\n"
        "group = typer.main.get_command(harness.cli.app)\n"
        "print(json.dumps({n: sorted(getattr(c, 'commands', {})) for n, c in group.commands.items()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert json.loads(out) == {name: sorted(subs) for name, subs in EXPECTED_COMMANDS.items()}


@pytest.mark.parametrize("args", [[name, "--help"] for name in EXPECTED_COMMANDS])
def test_every_command_answers_help_through_typer_runner(args: list[str]) -> None:
    from typer.testing import CliRunner

    import harness.cli

    result = CliRunner().invoke(harness.cli.app, args)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_readme_command_table_names_every_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    for name, subs in EXPECTED_COMMANDS.items():
        for sub in subs or {""}:
            assert f"`harness {name} {sub}".rstrip() in table, (name, sub)


def test_importing_the_cli_loads_no_heavy_library() -> None:
    """`harness --help` and `harness --version` stay fast: libraries load inside the commands."""
    heavy = ["numpy", "scipy", "pydantic", "yaml", "rich", "torch", "harness.tables", "harness.runner"]
    code = f"import sys, harness.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"


def test_report_help_lists_the_latency_statistics_of_the_spec_sections() -> None:
    from harness.cli.report_cmd import LATENCY_STATISTICS
    from harness.sections import STATISTICS

    assert LATENCY_STATISTICS == STATISTICS


def test_cache_command_lists_sizes_and_clears(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = ArtefactStore(root)
    store.put("embeddings", "a" * 64, b"x" * 2048, {"model": {"ref": "all-MiniLM-L6-v2"}, "docs": 3, "seconds": 1.5})
    store.put("faiss-index", "b" * 64, b"y" * 10, {"type": "hnsw"})
    code, out, _ = run_cli("cache", "list", "--cache-dir", str(root), "--entries")
    assert code == 0
    per_kind = out.split("\n\n")[0]  # then, with --entries, a table of entries
    rows = {ln.split()[0]: ln.split()[1:] for ln in per_kind.splitlines()}
    assert rows["embeddings"] == ["1", "2.0", "KB"]
    assert rows["total"] == ["2", "2.0", "KB"]
    assert "all-MiniLM-L6-v2 docs=3 1.5s to compute" in out
    code, _, err = run_cli("cache", "clear", "--cache-dir", str(root), "--kind", "embedings")
    assert code == 2
    assert "did you mean 'embeddings'" in err
    code, out, _ = run_cli("cache", "clear", "--cache-dir", str(root), "--kind", "faiss-index")
    assert (code, out.strip()) == (0, f"removed 1 entries from {root} (faiss-index)")
    assert [e.kind for e in store.entries()] == ["embeddings"]
    code, out, _ = run_cli("cache", "clear", "--cache-dir", str(root))
    assert code == 0
    assert store.entries() == []


@pytest.mark.parametrize("variable", [None, "1"])
def test_eval_turns_numpy_huge_page_advice_off_unless_the_user_set_it(
    monkeypatch: pytest.MonkeyPatch, variable: str | None
) -> None:
    from numpy._core import multiarray

    from harness.cli.eval_cmd import _small_pages

    before = multiarray._get_madvise_hugepage()
    if variable is None:
        monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    else:
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", variable)
    try:
        multiarray._set_madvise_hugepage(True)
        _small_pages()
        assert multiarray._get_madvise_hugepage() is (variable is not None)
    finally:
        multiarray._set_madvise_hugepage(before)
