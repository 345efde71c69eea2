"""How busy the machine was while a cell was timed: other processes' CPU use, steal, load.

A latency sample measures the system only when nothing else competed for the cores. The
pipeline wraps each per-query timing pass in a `LoadProbe` and judges the pass with
`judge_pass`:

- other processes' CPU: busy time of the whole machine (/proc/stat: user, nice, system, irq,
  softirq) minus this process's own CPU time, over the pass's wall time, in cores;
- steal: the share of the machine's time the hypervisor gave to other guests;
- load average (1 minute), for the record;
- tail drift: the slowest queries of the pass are timed once more; when they run much faster
  the second time (by a ratio and by more than MIN_TAIL_EXCESS_MS), the tail was the machine's
  and not the system's.

Where /proc/stat is missing (not Linux) the CPU figures are None and only the tail drift
judges the pass.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

_BUSY = (0, 1, 2, 5, 6)  # user nice system irq softirq (guest time is inside user)
_STEAL = 7


def _cpu_jiffies() -> tuple[int, int, int] | None:
    """(busy, steal, total) jiffies of all CPUs since boot, or None without /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    try:
        values = [int(v) for v in first[1:]]
    except ValueError:
        return None
    if len(values) < 8:
        return None
    return sum(values[i] for i in _BUSY), values[_STEAL], sum(values[:8])


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


@dataclass(frozen=True)
class MachineLoad:
    """What the rest of the machine did during one timed pass."""

    seconds: float
    others_cpu: float | None
    """Cores other processes kept busy on average (None where unknown)."""
    steal: float | None
    """Share of all CPU time stolen by the hypervisor (None where unknown)."""
    loadavg: float | None


class LoadProbe:
    """Start before a timed pass, `stop()` after it."""

    def __init__(self) -> None:
        self._jiffies = _cpu_jiffies()
        self._own = time.process_time()
        self._t0 = time.perf_counter()

    def stop(self) -> MachineLoad:
        seconds = time.perf_counter() - self._t0
        own = time.process_time() - self._own
        end, start = _cpu_jiffies(), self._jiffies
        others = steal = None
        if end is not None and start is not None and seconds > 0:
            tick = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
            busy = (end[0] - start[0]) / tick
            # jiffies tick at 100 Hz: one tick of rounding per CPU is not another process
            others = round(max(0.0, busy - own) / seconds, 3)
            total = end[2] - start[2]
            steal = round((end[1] - start[1]) / total, 4) if total > 0 else 0.0
        return MachineLoad(round(seconds, 4), others, steal, _loadavg())


MAX_STEAL = 0.05
"""A pass that lost more than 5% of the machine to other guests measured the hypervisor."""


MIN_TAIL_EXCESS_MS = 1.0
"""A tail that drifts by less than this (ms, median of the slowest queries, first timing less
second) is not noise: sub-millisecond queries (BM25's) routinely run 2-4x faster the second time
(a warm cache line, a page fault paid once), which says nothing about the machine."""


def judge_pass(
    load: MachineLoad,
    tail_drift: float | None,
    *,
    max_others_cpu: float,
    max_tail_drift: float,
    tail_excess_ms: float = math.inf,
) -> str:
    """Why the pass is noisy ('' when it is not): one clause per reason. The tail drift counts
    when its ratio is over `max_tail_drift` and its excess over MIN_TAIL_EXCESS_MS."""
    reasons = []
    if load.others_cpu is not None and load.others_cpu > max_others_cpu:
        reasons.append(f"other processes kept {load.others_cpu:.2f} cores busy (limit {max_others_cpu:g})")
    if load.steal is not None and load.steal > MAX_STEAL:
        reasons.append(f"the hypervisor stole {load.steal:.0%} of the CPU time")
    if tail_drift is not None and tail_drift > max_tail_drift and tail_excess_ms > MIN_TAIL_EXCESS_MS:
        reasons.append(
            f"the slowest queries ran {tail_drift:.1f}x ({tail_excess_ms:.3g} ms) faster when timed again "
            f"(limit {max_tail_drift:g})"
        )
    return "; ".join(reasons)


def tail_indices(samples_ms: list[float], share: float = 0.05, at_most: int = 20) -> list[int]:
    """Positions of the slowest samples: the top `share`, at least 1, at most `at_most`."""
    if not samples_ms:
        return []
    n = min(at_most, max(1, round(len(samples_ms) * share)))
    return sorted(range(len(samples_ms)), key=lambda i: -samples_ms[i])[:n]
