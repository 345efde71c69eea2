"""Noise-aware per-query timing: a busy machine or a hiccup is detected, re-timed and marked,
never reported silently as the system's latency (harness.noise, harness.runner.per_query)."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from harness.noise import LoadProbe, MachineLoad, judge_pass, tail_indices
from harness.plan import StageConfig, SystemVariant
from harness.records import Query, Run, ScoredDoc
from harness.runner.pipeline import run_pipeline
from harness.sections import LatencyConfig
from harness.systems import STAGES, RetrieverParams, Stage, StageContext
from harness.threads import available_cores
from tests.support import memory_dataset

# ------------------------------------------------------------------ judging a pass


def test_judge_pass_names_every_reason_and_passes_a_quiet_machine() -> None:
    quiet = MachineLoad(seconds=1.0, others_cpu=0.1, steal=0.0, loadavg=0.2)
    assert judge_pass(quiet, 1.1, max_others_cpu=0.5, max_tail_drift=2.0) == ""
    busy = MachineLoad(seconds=1.0, others_cpu=1.73, steal=0.12, loadavg=3.0)
    reason = judge_pass(busy, 4.0, max_others_cpu=0.5, max_tail_drift=2.0, tail_excess_ms=30.0)
    assert "other processes kept 1.73 cores busy (limit 0.5)" in reason
    assert "the hypervisor stole 12% of the CPU time" in reason
    assert "the slowest queries ran 4.0x (30 ms) faster when timed again (limit 2)" in reason
    # Sub-millisecond tails (BM25's) drift by ratios without the machine being busy: 0.3 ms is not noise.
    assert judge_pass(quiet, 4.0, max_others_cpu=0.5, max_tail_drift=2.0, tail_excess_ms=0.3) == ""
    # Unknown figures (no /proc/stat) judge nothing; the tail drift still does.
    unknown = MachineLoad(seconds=1.0, others_cpu=None, steal=None, loadavg=None)
    assert judge_pass(unknown, None, max_others_cpu=0.5, max_tail_drift=2.0) == ""
    assert "faster when timed again" in judge_pass(unknown, 2.5, max_others_cpu=0.5, max_tail_drift=2.0)


def test_tail_indices_are_the_slowest_five_percent_at_least_one_at_most_twenty() -> None:
    assert tail_indices([]) == []
    assert tail_indices([3.0, 9.0, 1.0]) == [1]
    samples = [float(i % 50) for i in range(100)]  # 49.0 twice, 48.0 twice, ...
    assert sorted(samples[i] for i in tail_indices(samples)) == [47.0, 48.0, 48.0, 49.0, 49.0]
    assert len(tail_indices([1.0] * 10_000)) == 20


def _spin(seconds: float) -> None:  # pragma: no cover - runs in the child process
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.fixture
def cpu_hogs() -> Iterator[None]:
    """Busy loops on every core for as long as the test runs (bounded: 60 s at most)."""
    hogs = [multiprocessing.Process(target=_spin, args=(60.0,), daemon=True) for _ in range(2)]
    for hog in hogs:
        hog.start()
    time.sleep(0.2)  # let them reach their loops
    try:
        yield
    finally:
        for hog in hogs:
            hog.terminate()
            hog.join()


def test_the_load_probe_sees_other_processes(cpu_hogs: None) -> None:
    probe = LoadProbe()
    time.sleep(0.5)  # this process idles while two others spin
    load = probe.stop()
    if load.others_cpu is None:
        pytest.skip("no /proc/stat on this system: CPU use of other processes is unknown")
    assert load.others_cpu > 1.0
    assert load.seconds == pytest.approx(0.5, abs=0.2)


# ------------------------------------------------------------------ the pipeline


class NapParams(RetrieverParams):
    pass


SLOW_FIRST: set[str] = set()
"""Queries whose next call sleeps 40 ms instead of 2 ms (a hiccup of the machine, once)."""
ALWAYS_SLOW = {"q0", "q1"}


class Nap(Stage):
    """Sleeps 2 ms per query (20 ms for ALWAYS_SLOW ones, 40 ms once for SLOW_FIRST ones)."""

    Params = NapParams

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        for q in queries:
            if q.query_id in SLOW_FIRST:
                SLOW_FIRST.discard(q.query_id)
                time.sleep(0.040)
            else:
                time.sleep(0.020 if q.query_id in ALWAYS_SLOW else 0.002)
        return Run({q.query_id: [ScoredDoc("d1", 1.0)] for q in queries})


class HiccupOnce(Nap):
    """Nap, but arms SLOW_FIRST for q5..q7 when the first per-query pass starts, so that only
    that pass sees the hiccup."""

    calls = 0

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        HiccupOnce.calls += 1
        if HiccupOnce.calls == 2:  # call 1 is the batch pass (no warm-up here), 2 the first single query
            SLOW_FIRST.update({"q5", "q6", "q7"})
        return super().search(queries, previous)


def _variant(monkeypatch: pytest.MonkeyPatch, cls: type[Stage]) -> SystemVariant:
    STAGES.names()  # discover the real stages first
    monkeypatch.setitem(STAGES._items, "test-nap", cls)
    return SystemVariant("nap", "nap", (StageConfig("test-nap", NapParams()),))


def _ctx(tmp_path: Path, n: int = 40) -> StageContext:
    dataset = memory_dataset({"d1": "text"}, {f"q{i}": f"query {i}" for i in range(n)})
    return StageContext(base_dir=tmp_path, data_root=tmp_path, dataset=dataset, progress=False)


def test_a_cpu_hog_during_timing_marks_the_cell_noisy_after_retiming(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cpu_hogs: None
) -> None:
    if LoadProbe().stop().others_cpu is None:
        pytest.skip("no /proc/stat on this system: CPU use of other processes is unknown")
    cfg = LatencyConfig(warmup=0, retimes=1, max_others_cpu=0.5)
    timing = run_pipeline(_variant(monkeypatch, Nap), _ctx(tmp_path), cfg).timing
    noise = timing.noise
    assert noise is not None
    assert noise.passes == 2  # the first pass was noisy: timed once more, at most `retimes` times
    assert noise.noisy  # every pass was noisy: the cell says so ...
    assert "other processes kept" in noise.reason
    assert noise.others_cpu is not None
    assert noise.others_cpu > 0.5
    assert all("other processes kept" in r for r in noise.pass_reasons)
    assert timing.latency.n == 40  # ... and still reports the samples of the kept pass
    # two cores were taken: the pass ran at the cell's count less the busy cores (1 on 2 cores)
    assert noise.threads is not None
    assert noise.threads == max(1, available_cores() - 2)
    assert timing.threads["applied"] == available_cores()


def test_a_hiccup_in_the_tail_is_timed_again_and_a_clean_pass_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    HiccupOnce.calls = 0
    SLOW_FIRST.clear()
    # Other processes are not judged here (a shared test machine may be busy): only the tail.
    cfg = LatencyConfig(warmup=0, retimes=2, max_others_cpu=1000.0, max_tail_drift=2.0)
    timing = run_pipeline(_variant(monkeypatch, HiccupOnce), _ctx(tmp_path), cfg).timing
    noise = timing.noise
    assert noise is not None
    # Pass 1: q5..q7 took 40 ms, and 2 ms when timed again: its tail was the machine's.
    assert "the slowest queries ran" in noise.pass_reasons[0]
    assert noise.passes == 2
    assert noise.kept == 2
    assert not noise.noisy
    assert noise.reason == ""
    kept = dict(zip(timing.query_ids, timing.samples_ms, strict=True))
    assert max(kept["q5"], kept["q6"], kept["q7"]) < 15.0  # the kept pass is the clean one


def test_genuinely_slow_queries_are_not_noise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    SLOW_FIRST.clear()
    cfg = LatencyConfig(warmup=0, retimes=2, max_others_cpu=1000.0)
    timing = run_pipeline(_variant(monkeypatch, Nap), _ctx(tmp_path), cfg).timing
    noise = timing.noise
    assert noise is not None
    # q0 and q1 are slow every time: timed again, they are as slow, so the pass is clean.
    assert noise.tail_drift is not None
    assert noise.tail_drift < 1.5
    assert noise.passes == 1
    assert not noise.noisy
    assert timing.latency.max is not None
    assert timing.latency.max >= 20.0


def test_no_noise_record_without_per_query_timing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    timing = run_pipeline(_variant(monkeypatch, Nap), _ctx(tmp_path, 3), LatencyConfig(mode="batch")).timing
    assert timing.noise is None
