"""A/B tests, simulated: each system on its own traffic under a click model.

An arm shows its system's top `depth` for queries drawn uniformly; the differences between two
arms (B - A) get normal intervals and the impressions per arm a real test would need
(harness.online.power).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.online.online_records import ABArm, ABDifference, ABOutcome
from harness.online.power import difference_interval, needed_per_arm

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from harness.online.click_models import ClickModel


class ArmSample:
    """One arm's per-impression values, kept for the differences."""

    def __init__(self, system: str, clicks: npt.NDArray[np.bool_]) -> None:
        import numpy as np

        self.system = system
        self.any: npt.NDArray[np.float64] = np.asarray(clicks.any(axis=1), dtype=np.float64)
        self.count: npt.NDArray[np.float64] = np.asarray(clicks.sum(axis=1), dtype=np.float64)
        first = np.argmax(clicks, axis=1) + 1.0
        self.first: npt.NDArray[np.float64] = np.asarray(first[self.any > 0], dtype=np.float64)

    def record(self) -> ABArm:
        ctr = float(self.any.mean())
        return ABArm(
            system=self.system,
            impressions=len(self.any),
            ctr=ctr,
            abandonment=1.0 - ctr,
            clicks=float(self.count.mean()),
            first_click_rank=float(self.first.mean()) if len(self.first) else None,
        )


def simulate_arm(
    system: str, grades: npt.NDArray[np.int64], model: ClickModel, impressions: int, rng: np.random.Generator
) -> ArmSample:
    """`grades`: the system's (queries x depth) grade matrix; queries are drawn uniformly."""
    shown = grades[rng.integers(0, len(grades), size=impressions)]
    return ArmSample(system, model.clicks(shown, rng))


def _difference(
    metric: str, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], alpha: float, power: float, confidence: float
) -> ABDifference:
    delta = float(b.mean() - a.mean())
    var_a, var_b = float(a.var()), float(b.var())
    return ABDifference(
        metric=metric,
        difference=delta,
        interval=difference_interval(delta, var_a, var_b, len(a), len(b), confidence),
        impressions_needed=needed_per_arm(delta, var_a, var_b, alpha, power),
    )


def ab_outcome(model: str, a: ArmSample, b: ArmSample, alpha: float, power: float, confidence: float) -> ABOutcome:
    return ABOutcome(
        click_model=model,
        a=a.record(),
        b=b.record(),
        differences=[
            _difference("ctr", a.any, b.any, alpha, power, confidence),
            _difference("clicks", a.count, b.count, alpha, power, confidence),
        ],
    )
