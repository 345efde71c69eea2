"""The faults of test_faults.py on real file systems: a read-only tmpfs and a tiny one that fills
up. Mounting needs root and a kernel that allows it, so this runs only on request:
HARNESS_TEST_MOUNTS=1 python -m pytest tests/integration/test_faults_tmpfs.py"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fsfaults import temp_files
from tests.support import assert_one_clear_line, read_results, run_cli

pytestmark = pytest.mark.skipif(
    os.environ.get("HARNESS_TEST_MOUNTS") != "1" or os.geteuid() != 0,
    reason="mounts a tmpfs: set HARNESS_TEST_MOUNTS=1 and run as root",
)

SPEC = """\
name: tmpfs
datasets: [{id: beir/scifact/test, queries: {first: 100}}]
measures: [nDCG@10]
latency: {mode: 'off'}
systems:
  bm25: {type: bm25, k1: [0.9, 1.2, 1.5], depth: 100}
"""


def _mount(point: Path, options: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "mnt"
    point.mkdir()
    try:
        _mount(point, "size=40k")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=False)


def test_full_then_read_only_then_enough_space(tmp_path: Path, tmpfs: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    out = tmpfs / "out"
    code, _, err = run_cli("run", str(spec), "-o", str(out), "-q", "--no-report")
    assert_one_clear_line(code, err, "no space left on the device", "free space on the disk of")
    assert temp_files(tmpfs) == []
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    code, _, err = run_cli("run", str(spec), "-o", str(out), "-q", "--no-report")
    assert_one_clear_line(code, err, f"{out}: cannot write the output folder: the file system is read-only")
    subprocess.run(["mount", "-o", "remount,rw,size=4m", str(tmpfs)], check=True)
    code, _, err = run_cli("run", str(spec), "-o", str(out), "-q", "--no-report")
    assert code == 0, err
    cells = read_results(out)["cells"]
    assert len(cells) == 3
    assert temp_files(tmpfs) == []
