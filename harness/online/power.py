"""Intervals and sample sizes for simulated online tests, and the seeded random streams.

Sample sizes are closed form (normal approximation, two-sided at alpha with the given power):
for a mean outcome mu with per-impression SD sigma, n = ((z_(1-alpha/2) + z_power) sigma / mu)^2;
for the difference of two arms, n per arm = (z_(1-alpha/2) + z_power)^2 (var_A + var_B) / delta^2.
"""

from __future__ import annotations

import hashlib
import math
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from harness.online.online_records import Interval

if TYPE_CHECKING:
    import numpy as np

_CHUNK = 100


def stream(seed: int, *labels: str) -> np.random.Generator:
    """An independent generator for one simulation, fixed by the seed and what it simulates
    (dataset, systems, click model, method): the same numbers whatever else the spec runs."""
    import numpy as np

    digest = hashlib.sha256("\x1f".join(labels).encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def _z(alpha: float, power: float) -> float:
    nd = NormalDist()
    return nd.inv_cdf(1 - alpha / 2) + nd.inv_cdf(power)


def needed_for_mean(mean: float, sd: float, alpha: float, power: float) -> int | None:
    """Impressions to tell a mean outcome `mean` from zero; None when it is zero."""
    if mean == 0 or not math.isfinite(mean):
        return None
    return max(1, math.ceil((_z(alpha, power) * sd / abs(mean)) ** 2))


def needed_per_arm(delta: float, var_a: float, var_b: float, alpha: float, power: float) -> int | None:
    """Impressions per arm to tell two arms' means apart; None when they are equal."""
    if delta == 0 or not math.isfinite(delta):
        return None
    return max(1, math.ceil(_z(alpha, power) ** 2 * (var_a + var_b) / delta**2))


def difference_interval(delta: float, var_a: float, var_b: float, n_a: int, n_b: int, confidence: float) -> Interval:
    """Normal interval of a difference of two independent arms' means."""
    half = NormalDist().inv_cdf(0.5 + confidence / 2) * math.sqrt(var_a / n_a + var_b / n_b)
    return Interval(low=delta - half, high=delta + half)


def bootstrap_interval(values: Any, resamples: int, confidence: float, rng: np.random.Generator) -> Interval:
    """Percentile bootstrap interval of the mean of `values` (impressions resampled)."""
    import numpy as np

    n = len(values)
    means = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        stop = min(start + _CHUNK, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(low=float(low), high=float(high))
