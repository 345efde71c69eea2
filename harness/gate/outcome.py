"""What the gate concludes: one Check per row, gathered in a GateReport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from harness.sections import GateRules

Verdict = Literal["PASS", "FAIL", "SKIP"]
"""SKIP never fails the gate."""


@dataclass(frozen=True)
class Check:
    """One row of the gate's verdict table. `snapshot` and `new` are the compared values (an
    aggregate, or a latency ratio); `delta` is new - snapshot."""

    kind: str
    dataset: str
    system: str
    measure: str
    verdict: Verdict
    message: str
    snapshot: float | None = None
    new: float | None = None
    delta: float | None = None
    ci: tuple[float, float] | None = None
    p: float | None = None

    @property
    def name(self) -> str:
        parts = [p for p in (self.dataset, self.system, self.measure) if p]
        return f"{self.kind}: " + " / ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "system": self.system,
            "measure": self.measure,
            "verdict": self.verdict,
            "message": self.message,
            "snapshot": self.snapshot,
            "new": self.new,
            "delta": self.delta,
            "ci": list(self.ci) if self.ci else None,
            "p": self.p,
        }


@dataclass(frozen=True)
class GateReport:
    checks: tuple[Check, ...]
    rules: GateRules
    snapshot_path: str

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "FAIL"]

    @property
    def skipped(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "SKIP"]

    @property
    def passed(self) -> bool:
        return not self.failures
