"""Every thread pool the process computes with, set in one place.

A search measured per query shares the machine with whatever else runs on it. Two things keep
its latency the system's own:

- waits that sleep: OpenMP (torch's and FAISS's libgomp, Intel's libiomp) spins while it waits
  for work unless told otherwise, and onnxruntime's pool does too. A spinning thread that waits
  for a sibling which lost its core to another process burns the time being measured, on the
  wall clock and on the CPU clock alike. `quiet_thread_waits` (the command line calls it first
  thing, before any OpenMP library loads) and `onnx_session_options` turn spinning off.
- one thread count for every runtime: `use_threads(n)` sets torch's intra-op threads, FAISS's
  OpenMP threads and the BLAS pools (through threadpoolctl, when installed) to the same `n`, and
  onnxruntime sessions created afterwards take it too. The pipeline applies a cell's count
  before the stages prepare, so no timed work starts a pool of another size, and records it
  (`thread_counts`) with the cell's timing.

Measured (MiniLM query encoding at 2 threads beside other CPU-bound processes): p50 936 ms with
OpenMP's default spinning policy, 38 ms with passive waits.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

PASSIVE_WAITS = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
"""OpenMP threads wait for work by sleeping, not spinning (read once, when OpenMP starts)."""

_applied: int | None = None
"""The thread count `use_threads` set last (None: never called, libraries' own defaults)."""


def quiet_thread_waits() -> None:
    """Set PASSIVE_WAITS where the user has not: before any OpenMP library is loaded."""
    for var, value in PASSIVE_WAITS.items():
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
    applied, else onnxruntime's default), one inter-op thread and no spinning pool threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    n = threads or _applied
    if n:
        so.intra_op_num_threads = n
        so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return so


def thread_counts() -> dict[str, Any]:
    """Threads the numeric libraries use now, and the wait policy, without importing any of them."""
    out: dict[str, Any] = {"cpu_count": os.cpu_count(), "affinity": None, "applied": _applied}
    with contextlib.suppress(AttributeError, OSError):
        out["affinity"] = len(os.sched_getaffinity(0))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS", *PASSIVE_WAITS):
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
