"""Interrupted runs resume: SIGKILL at random moments never loses or recomputes a finished
cell, and the final results equal an uninterrupted run's."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.fsutil import sha256_file
from tests.support import REPO, read_results, subprocess_env

pytestmark = pytest.mark.usefixtures("data_root")  # the spec runs on SciFact

SPEC = """\
name: resume
datasets: [{id: beir/scifact/test, queries: {first: 30}}]
measures: [nDCG@10, R@100]
systems:
  bm25: {type: bm25, k1: [0.6, 0.9, 1.2, 1.5, 1.8, 2.1], depth: 100}
"""


def _start(spec: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(spec), "-o", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
        cwd=REPO,
    )


def _finished(out: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.glob("cells/*/*.json"))}


def _comparable(out: Path) -> dict[str, object]:
    res = read_results(out)
    return {
        f"{c['dataset']}|{c['system']}": (c["aggregate"], c["per_query"], (out / c["run_file"]).read_bytes())
        for c in res["cells"]
    }


def test_sigkill_at_random_moments_then_resume(tmp_path: Path) -> None:
    spec = tmp_path / "resume.yaml"
    spec.write_text(SPEC)
    ref_out, out = tmp_path / "reference", tmp_path / "killed"
    ref = _start(spec, ref_out)
    assert ref.wait(timeout=300) == 0, ref.stderr.read() if ref.stderr else ""

    rng = random.Random(20261125)
    kills = 0
    for _ in range(10):
        before = _finished(out)
        proc = _start(spec, out)
        time.sleep(rng.uniform(0.5, 3.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        after = _finished(out)
        # A cell finished before this attempt is neither lost nor rewritten.
        for path, stamp in before.items():
            assert after.get(path) == stamp, f"finished cell {path} was recomputed or lost"
        # Every record that exists is complete and points at a complete run file.
        for path in after:
            rec = json.loads(Path(path).read_text())
            assert sha256_file(out / rec["run_file"]) == rec["run_sha256"]
    assert kills >= 5, "the run finished too fast to be interrupted; make the spec bigger"

    before = _finished(out)
    final = _start(spec, out)
    assert final.wait(timeout=300) == 0
    after = _finished(out)
    assert all(after[p] == s for p, s in before.items())
    assert _comparable(out) == _comparable(ref_out)
