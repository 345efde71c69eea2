"""Every thread pool the process computes with, set in one place.

A search measured per query shares the machine with whatever else runs on it. Three things keep
its latency the system's own:

- waits that spin briefly, then sleep: OpenMP (torch's and FAISS's libgomp) spins for a long
  time while it waits for work unless told otherwise, and onnxruntime's pool does too. A thread
  that spins while its sibling has lost its core to another process burns the time being
  measured, on the wall clock and on the CPU clock alike; a thread that sleeps at once pays a
  wake-up on every parallel region, which on a virtual machine with an idle core (halted) costs
  more than the work. `quiet_thread_waits` (the command line calls it first thing, before any
  OpenMP library loads) bounds OpenMP's spin (THREAD_WAITS), `onnx_session_options`
  onnxruntime's (ONNX_SPIN_US).
- one thread count for every runtime: `use_threads(n)` sets torch's intra-op threads, FAISS's
  OpenMP threads and the BLAS pools (through threadpoolctl) to the same `n`, and onnxruntime
  sessions created afterwards take it too. The pipeline applies a cell's count before the
  stages prepare, so no timed work starts a pool of another size, and records it
  (`thread_counts`) with the cell's timing.
- per-query timing on the cores that are free: `cores_for_timing` gives the count a per-query
  pass runs at, the cell's count less the cores other processes hold (harness.runner.per_query).
  A parallel region whose thread has no core waits for the scheduler, which times the machine.

Measured (all-MiniLM-L6-v2, one query, fp32, 2 cores, one other CPU-bound process or none),
p50 ms idle / beside the busy process: OpenMP's default waits 8.0 / 219; sleeping at once
(OMP_WAIT_POLICY=PASSIVE) 17.2 / 14.0; GOMP_SPINCOUNT=10000 8.8-9.3 / 31.5; 30000 8.9 / -;
100000 7.8-8.5 / 100; one thread 11.7 / 12.7. No single wait policy is right on both, so the
spin stays near the idle optimum (100000) and a core another process holds is not timed on:
every core when they are free, one thread when one of two is taken, 8.4 / 12.7.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

THREAD_WAITS = {"GOMP_SPINCOUNT": "100000", "KMP_BLOCKTIME": "0"}
"""OpenMP threads spin 100,000 rounds for more work, then sleep (libgomp: torch's and FAISS's; its
default spins 3x longer, and spins less only when it sees more threads than cores, which it does
not when another process takes a core). Intel's libiomp sleeps at once. Read once, when OpenMP
starts; a user's own OMP_WAIT_POLICY, GOMP_SPINCOUNT or KMP_BLOCKTIME wins."""

ONNX_SPIN_US = 50
"""onnxruntime pool threads spin this long (µs) for the next piece of work, then sleep.

Measured with benchmarks/latency_sanity.py (cross-encoder, one pair per call, 2 threads, 100
pairs): on an idle machine no spinning cost 1.26x onnxruntime's default (which spins for long),
50 µs 1.09x, 200 µs 1.02x; beside one CPU-bound process the same 100 pairs took 6.7 s without
spinning, 8.5 s at 50 µs, 10.2 s at 200 µs and 10.4 s at the default. 50 µs keeps the
idle-machine latency within 10% of the library's own and most of the robustness under load."""

_applied: int | None = None
"""The thread count `use_threads` set last (None: never called, libraries' own defaults)."""


def quiet_thread_waits() -> None:
    """Set THREAD_WAITS where the user has not: before any OpenMP library is loaded."""
    if "OMP_WAIT_POLICY" in os.environ:  # the user chose how OpenMP waits
        return
    for var, value in THREAD_WAITS.items():
        os.environ.setdefault(var, value)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def use_threads(threads: int | None) -> int:
    """Set every loaded runtime (and those loaded later, where they read a setting at start) to
    `threads` (None: all available cores); return the count applied.

    torch and FAISS are set only when already imported (a BM25-only run does not import torch
    for this); the pipeline calls it again after the stages prepared, when they are."""
    global _applied
    n = threads or available_cores()
    _applied = n
    # tokenizers' rayon pool reads it once, when it starts (a user's own setting is kept)
    os.environ.setdefault("RAYON_NUM_THREADS", str(n))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    faiss = sys.modules.get("faiss")
    if faiss is not None:
        faiss.omp_set_num_threads(n)
    _limit_blas(n)
    return n


def cores_for_timing(threads: int, others_cpu: float | None) -> int:
    """Threads a per-query pass runs at: `threads`, less the cores other processes keep busy
    (`others_cpu`, harness.noise; None: unknown, all of `threads`), at least one."""
    if others_cpu is None:
        return threads
    free = int(available_cores() - others_cpu + 0.5)
    return max(1, min(threads, free))


def applied_threads() -> int | None:
    """The count `use_threads` set last, for runtimes a stage starts after it (torch, FAISS and
    onnxruntime loaded in `prepare`)."""
    return _applied


def _limit_blas(n: int) -> None:
    """BLAS pools of numpy/scipy (OpenBLAS, MKL) to `n` threads, where threadpoolctl is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    with contextlib.suppress(Exception):  # a library threadpoolctl cannot drive stays as it is
        threadpool_limits(limits=n, user_api="blas")


def onnx_session_options(threads: int | None) -> Any:
    """onnxruntime SessionOptions with `threads` intra-op threads (None: the count `use_threads`
    applied, else onnxruntime's default), one inter-op thread, and pool threads that spin at
    most ONNX_SPIN_US before they sleep."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    n = threads or _applied
    if n:
        so.intra_op_num_threads = n
        so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1")
    so.add_session_config_entry("session.intra_op.spin_duration_us", str(ONNX_SPIN_US))
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return so


def thread_counts() -> dict[str, Any]:
    """Threads the numeric libraries use now, and the wait policy, without importing any of them."""
    out: dict[str, Any] = {"cpu_count": os.cpu_count(), "affinity": None, "applied": _applied}
    if "onnxruntime" in sys.modules and _applied is not None:  # sessions made by onnx_session_options
        out["onnxruntime_spin_us"] = ONNX_SPIN_US
    with contextlib.suppress(AttributeError, OSError):
        out["affinity"] = len(os.sched_getaffinity(0))
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_WAIT_POLICY")
    for var in (*names, *THREAD_WAITS):
        if os.environ.get(var):
            out[var] = os.environ[var]
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(AttributeError, RuntimeError):
            out["torch"] = int(torch.get_num_threads())
    faiss = sys.modules.get("faiss")
    if faiss is not None:
        with contextlib.suppress(AttributeError, RuntimeError):
            out["faiss"] = int(faiss.omp_get_max_threads())
    return out
