"""The per-query timing pass: each query alone through the pipeline, judged for noise.

Before a pass, the machine is watched for a moment (PROBE_S): the pass runs at the cell's thread
count less the cores other processes hold (harness.threads.cores_for_timing), since a parallel
region whose thread has no core times the scheduler, not the system. A pass times every query
(`latency.max_queries` of them, `repeats` times) and then times its slowest queries once more.
The pass is noisy when other processes kept more than `latency.max_others_cpu` cores busy
meanwhile, when the hypervisor stole CPU time, or when the slowest queries ran more than
`latency.max_tail_drift` times faster the second time (harness.noise). A noisy pass is run
again, at most `latency.retimes` times; the first clean pass is kept, else the one with the
lowest p90. The cell's timing says how many passes ran, which was kept, at how many threads,
and why the others were not, and stays marked noisy when no pass was clean.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from harness.noise import LoadProbe, MachineLoad, judge_pass, tail_indices
from harness.records import Query, Run
from harness.sections import LatencyConfig
from harness.systems import Stage
from harness.threads import applied_threads, cores_for_timing, use_threads
from harness.timing import LatencyStats, TimingNoise

Parts = list[dict[str, list[float]]]
Search = Callable[[Sequence[Query], list[float], list[float], Parts], Run]


def _r(x: float, digits: int = 4) -> float:
    return round(x, digits)


@contextlib.contextmanager
def quiet(stages: Sequence[Stage]) -> Iterator[None]:
    """Stages searching one query at a time draw no progress bars (a bar per query floods the
    terminal); the batch pass keeps them."""
    saved = [stage.progress for stage in stages]
    for stage in stages:
        stage.set_progress(False)
    try:
        yield
    finally:
        for stage, on in zip(stages, saved, strict=True):
            stage.set_progress(on)


@dataclass
class QueryClock:
    """Per-query samples of one timed pass, aligned with `query_ids`."""

    stages: int
    query_ids: list[str] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    encode_ms: list[float] = field(default_factory=list)
    """Query encoding (every stage's `encode` step) within `wall_ms`; `encode_cpu_ms` in `cpu_ms`."""
    encode_cpu_ms: list[float] = field(default_factory=list)
    stage_ms: list[list[float]] = field(default_factory=list)
    """Per stage, its per-query wall ms."""
    parts_ms: list[list[dict[str, float]]] = field(default_factory=list)
    """Per stage, per query: wall ms of each step the stage timed apart (`Stage.part`)."""
    replayed_ms: list[float] = field(default_factory=list)
    """Per stage: cached work replayed over the whole pass (ms)."""
    load: MachineLoad | None = None
    tail_drift: float | None = None
    reason: str = ""
    threads: int | None = None
    """Threads every runtime ran at during the pass (None: the thread count was not managed)."""

    def __post_init__(self) -> None:
        self.stage_ms = [[] for _ in range(self.stages)]
        self.parts_ms = [[] for _ in range(self.stages)]
        self.replayed_ms = [0.0] * self.stages

    def add(self, q: Query, search: Search) -> float:
        """Time `q` alone; keep its samples; return its wall ms."""
        per_stage, replayed = [0.0] * self.stages, [0.0] * self.stages
        parts: Parts = [{} for _ in range(self.stages)]
        c0 = time.process_time()
        t0 = time.perf_counter()
        search([q], per_stage, replayed, parts)
        total = time.perf_counter() - t0 + sum(replayed)
        # CPU time of the whole process (all its threads): unlike wall time it does not grow
        # when other jobs share the cores, so a CI gate can compare it across runs.
        self.cpu_ms.append(_r((time.process_time() - c0 + sum(replayed)) * 1000))
        for i, r in enumerate(replayed):
            self.replayed_ms[i] += r * 1000
        self.query_ids.append(q.query_id)
        self.wall_ms.append(_r(total * 1000))
        for i, (sec, steps) in enumerate(zip(per_stage, parts, strict=True)):
            self.stage_ms[i].append(_r(sec * 1000))
            self.parts_ms[i].append({name: _r(v[0] * 1000) for name, v in steps.items()})
        encode = [steps["encode"] for steps in parts if "encode" in steps]
        self.encode_ms.append(_r(sum(v[0] for v in encode) * 1000))
        self.encode_cpu_ms.append(_r(sum(v[1] for v in encode) * 1000))
        return total * 1000


def _tail_drift(clock: QueryClock, timed: Sequence[Query], search: Search) -> tuple[float | None, float]:
    """How many times faster the pass's slowest queries run when timed once more, and by how
    many ms (medians of the tail, first timing less second)."""
    tail = tail_indices(clock.wall_ms)
    if not tail:
        return None, 0.0
    again = QueryClock(clock.stages)
    by_id = {q.query_id: q for q in timed}
    retimed = [again.add(by_id[clock.query_ids[i]], search) for i in tail]
    first = statistics.median(clock.wall_ms[i] for i in tail)
    second = statistics.median(retimed)
    return (round(first / second, 3) if second > 0 else None), first - second


PROBE_S = 0.2
"""How long the machine is watched before a pass to see which cores are free."""


def _pass_threads(cell: int | None) -> int | None:
    """The count the next pass runs at: the cell's, less the cores other processes hold now."""
    if cell is None or cell == 1:  # unmanaged, or nothing to take away: no need to watch
        return cell
    probe = LoadProbe()
    time.sleep(PROBE_S)
    return cores_for_timing(cell, probe.stop().others_cpu)


def _one_pass(timed: Sequence[Query], cfg: LatencyConfig, search: Search, stages: int) -> QueryClock:
    clock = QueryClock(stages)
    cell = applied_threads()
    clock.threads = _pass_threads(cell)
    if clock.threads is not None and clock.threads != cell:
        use_threads(clock.threads)
    probe = LoadProbe()
    try:
        for _ in range(cfg.repeats):
            for q in timed:
                clock.add(q, search)
        clock.load = probe.stop()
        clock.tail_drift, excess_ms = _tail_drift(clock, timed, search)
    finally:
        if clock.threads is not None and clock.threads != cell:
            use_threads(cell)
    clock.reason = judge_pass(
        clock.load,
        clock.tail_drift,
        max_others_cpu=cfg.max_others_cpu,
        max_tail_drift=cfg.max_tail_drift,
        tail_excess_ms=excess_ms,
    )
    return clock


def time_queries(
    stages: Sequence[Stage], search: Search, queries: Sequence[Query], cfg: LatencyConfig
) -> tuple[QueryClock, TimingNoise | None]:
    """The kept pass and the record of every pass (None when nothing is timed per query)."""
    if cfg.mode != "per-query" or not queries:
        return QueryClock(len(stages)), None
    timed = queries[: cfg.max_queries] if cfg.max_queries else queries
    passes: list[QueryClock] = []
    with quiet(stages):  # single queries draw no progress bars
        for _ in range(1 + cfg.retimes):
            passes.append(_one_pass(timed, cfg, search, len(stages)))
            if not passes[-1].reason:
                break
    clean = [p for p in passes if not p.reason]
    kept = clean[0] if clean else min(passes, key=lambda p: LatencyStats.of(p.wall_ms).p90 or 0.0)
    load = kept.load
    noise = TimingNoise(
        passes=len(passes),
        kept=passes.index(kept) + 1,
        noisy=bool(kept.reason),
        reason=kept.reason,
        others_cpu=load.others_cpu if load else None,
        steal=load.steal if load else None,
        loadavg=load.loadavg if load else None,
        tail_drift=kept.tail_drift,
        pass_reasons=tuple(p.reason for p in passes),
        threads=kept.threads,
    )
    return kept, noise
