"""Threads of the numeric libraries spin briefly, then sleep (harness.threads.THREAD_WAITS), set by the
command line before any OpenMP library loads, unless the user chose otherwise; every runtime of a cell
runs at one thread count (harness.threads.use_threads); a per-query pass runs on the free cores."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from harness.plan import StageConfig, SystemVariant
from harness.records import Query, Run, ScoredDoc
from harness.runner.pipeline import run_pipeline
from harness.sections import LatencyConfig
from harness.systems import STAGES, RetrieverParams, Stage, StageContext
from harness.threads import (
    THREAD_WAITS,
    available_cores,
    cores_for_timing,
    onnx_session_options,
    quiet_thread_waits,
    thread_counts,
    use_threads,
)
from tests.support import memory_dataset

PROBE = (
    "import os, sys; from harness.cli import main; main(['--version']); "
    "print(os.environ.get('OMP_WAIT_POLICY', '-'), os.environ.get('GOMP_SPINCOUNT', '-'), 'torch' in sys.modules)"
)


def _probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in (*THREAD_WAITS, "OMP_WAIT_POLICY")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return proc.stdout.split()[-3:]


def test_the_command_line_bounds_openmp_spinning_before_loading_torch() -> None:
    assert _probe() == ["-", "100000", "False"]


def test_a_users_own_wait_policy_is_kept() -> None:
    assert _probe(OMP_WAIT_POLICY="ACTIVE") == ["ACTIVE", "-", "False"]
    assert _probe(GOMP_SPINCOUNT="300000") == ["-", "300000", "False"]


def test_the_wait_policy_is_recorded_with_the_thread_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    for var in THREAD_WAITS:
        monkeypatch.delenv(var, raising=False)
    quiet_thread_waits()
    counts = thread_counts()
    assert counts["GOMP_SPINCOUNT"] == "100000"
    assert counts["KMP_BLOCKTIME"] == "0"


# ------------------------------------------------------------------ one thread count for every runtime


@pytest.fixture
def restore_threads() -> Iterator[None]:
    yield
    use_threads(None)


def test_use_threads_sets_torch_faiss_and_blas_alike(restore_threads: None) -> None:
    torch = pytest.importorskip("torch")
    faiss = pytest.importorskip("faiss")
    from threadpoolctl import threadpool_info

    assert use_threads(1) == 1
    assert torch.get_num_threads() == 1
    assert faiss.omp_get_max_threads() == 1
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas, "numpy's BLAS is visible to threadpoolctl"
    assert set(blas) == {1}
    counts = thread_counts()
    assert (counts["applied"], counts["torch"], counts["faiss"]) == (1, 1, 1)
    assert use_threads(None) == available_cores()
    assert torch.get_num_threads() == available_cores()


def test_onnx_sessions_take_the_applied_count_and_spin_briefly(restore_threads: None) -> None:
    pytest.importorskip("onnxruntime")
    use_threads(1)
    so = onnx_session_options(None)
    assert (so.intra_op_num_threads, so.inter_op_num_threads) == (1, 1)
    # a bounded spin: the idle-machine speed of spinning, little of its cost beside other jobs
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert so.get_session_config_entry("session.intra_op.spin_duration_us") == "50"
    assert so.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert onnx_session_options(3).intra_op_num_threads == 3  # a stage's own `threads` wins


class _ThreadsParams(RetrieverParams):
    threads: int | None = None

    def thread_count(self) -> int | None:
        return self.threads


class _Counts(Stage):
    """Records the thread count torch runs with while it searches."""

    Params = _ThreadsParams
    seen: ClassVar[list[int]] = []

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        import torch

        _Counts.seen.append(int(torch.get_num_threads()))
        return Run({q.query_id: [ScoredDoc("d1", 1.0)] for q in queries})


def test_the_pipeline_runs_a_cell_at_the_largest_count_its_stages_ask_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_threads: None
) -> None:
    pytest.importorskip("torch")
    STAGES.names()
    monkeypatch.setitem(STAGES._items, "test-counts", _Counts)
    _Counts.seen = []
    stages = (StageConfig("test-counts", _ThreadsParams(threads=1)),)
    ctx = StageContext(
        base_dir=tmp_path, data_root=tmp_path, dataset=memory_dataset({"d1": "x"}, {"q1": "y"}), progress=False
    )
    timing = run_pipeline(SystemVariant("t", "t", stages), ctx, LatencyConfig(warmup=1, retimes=0)).timing
    assert set(_Counts.seen) == {1}  # warm-up, batch and per-query passes alike
    assert timing.threads["applied"] == 1
    assert timing.threads["torch"] == 1


def test_a_per_query_pass_runs_on_the_cores_other_processes_leave_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.threads.available_cores", lambda: 8)
    assert cores_for_timing(8, 0.0) == 8
    assert cores_for_timing(8, 0.4) == 8  # less than half a core taken: noise, not a core
    assert cores_for_timing(8, 1.0) == 7
    assert cores_for_timing(4, 3.0) == 4  # the cell asked for 4; 5 are free
    assert cores_for_timing(8, 7.9) == 1
    assert cores_for_timing(8, 12.0) == 1  # at least one
    assert cores_for_timing(8, None) == 8  # unknown (no /proc/stat): the cell's count
