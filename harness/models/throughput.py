"""Encoder throughput against the machine's own limit: tokens/s and the fraction of GEMM peak.

A transformer encoder spends nearly all its arithmetic in the matrix products of its linear
layers: 2 x (linear weights) floating-point operations per token. Dividing the work an encoding
did by its seconds and by the GEMM rate this machine reaches at the same precision (measured
here, once per process, on square 1024 x 1024 products through torch: fp32, bf16 on oneDNN,
int8 through `torch._int_mm`) says how close to the hardware the encoder ran. Attention-score
products, softmax and tokenisation are not counted, so the fraction slightly understates the
machine's use; it is a ratio to compare precisions and settings, not an absolute utilisation.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from harness.threads import applied_threads

SIZE = 1024
REPEATS = 5


@functools.cache
def gemm_peak_gflops(precision: str) -> float | None:
    """Measured GEMM rate (GFLOP/s, or GOP/s for int8) at `precision`; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    gen = torch.Generator().manual_seed(0)
    if precision == "int8":
        a = torch.randint(-127, 127, (SIZE, SIZE), dtype=torch.int8, generator=gen)
        b = torch.randint(-127, 127, (SIZE, SIZE), dtype=torch.int8, generator=gen)
        product: Any = torch._int_mm
    else:
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        a = torch.randn((SIZE, SIZE), generator=gen).to(dtype)
        b = torch.randn((SIZE, SIZE), generator=gen).to(dtype)
        product = torch.mm
    try:
        with torch.inference_mode():
            product(a, b)  # warm-up: kernels chosen and packed
            best = float("inf")
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                product(a, b)
                best = min(best, time.perf_counter() - t0)
    except RuntimeError:  # an operation this torch build lacks on this CPU
        return None
    return 2 * SIZE**3 / best / 1e9


def throughput_costs(
    *,
    tokens: int,
    seconds: float,
    linear_params: int | None,
    precision: str,
    batch_size: int,
    threads: int | None,
    peak_gflops: float | None,
) -> dict[str, Any]:
    """The costs entries of one encoding pass: tokens, tokens/s, GEMM peak and its fraction.
    Arithmetic only: callers measure `peak_gflops` (gemm_peak_gflops) and resolve `threads`
    (default_threads) outside any timed work."""
    out: dict[str, Any] = {
        "precision": precision,
        "batch_size": batch_size,
        "threads": threads,
        "tokens": tokens or None,  # 0: made before token counts were recorded
        "tokens_per_s": tokens / seconds if seconds > 0 and tokens > 0 else None,
        "gemm_peak_gflops": peak_gflops,
    }
    if peak_gflops and linear_params and seconds > 0:
        out["peak_fraction"] = 2.0 * linear_params * tokens / seconds / (peak_gflops * 1e9)
    return out


def default_threads() -> int | None:
    """Threads a stage without `threads` runs with: the cell's count (harness.threads), else
    torch's intra-op threads, None without torch."""
    applied = applied_threads()
    if applied is not None:
        return applied
    try:
        import torch
    except ImportError:
        return None
    return int(torch.get_num_threads())


PER_SEQUENCE = ("pooler", "classifier")
"""Linear layers applied once per text, not per token (BERT's pooler, a classification head)."""


def linear_weights(module: Any) -> int:
    """Weights of a torch module's per-token linear layers: 2 x this = FLOPs per token."""
    import torch

    return sum(
        int(m.weight.numel())
        for name, m in module.named_modules()
        if isinstance(m, torch.nn.Linear) and not any(part in name for part in PER_SEQUENCE)
    )
