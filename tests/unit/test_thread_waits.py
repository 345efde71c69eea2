"""Threads of the numeric libraries wait by sleeping, not spinning (harness.environment.PASSIVE_WAITS),
set by the command line before any OpenMP library loads, unless the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.environment import PASSIVE_WAITS, quiet_thread_waits, thread_counts

PROBE = (
    "import os, sys; from harness.cli import main; main(['--version']); "
    "print(os.environ['OMP_WAIT_POLICY'], os.environ['KMP_BLOCKTIME'], 'torch' in sys.modules)"
)


def _probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PASSIVE_WAITS}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return proc.stdout.split()[-3:]


def test_the_command_line_sets_passive_waits_before_loading_torch() -> None:
    assert _probe() == ["PASSIVE", "0", "False"]


def test_a_users_own_wait_policy_is_kept() -> None:
    assert _probe(OMP_WAIT_POLICY="ACTIVE") == ["ACTIVE", "0", "False"]


def test_the_wait_policy_is_recorded_with_the_thread_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PASSIVE_WAITS:
        monkeypatch.delenv(var, raising=False)
    quiet_thread_waits()
    counts = thread_counts()
    assert counts["OMP_WAIT_POLICY"] == "PASSIVE"
    assert counts["KMP_BLOCKTIME"] == "0"
