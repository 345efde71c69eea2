"""Every shipped experiment spec loads against the real data root (its replayed run files exist)."""

from __future__ import annotations

from pathlib import Path

from harness.plan import load_plan
from tests.support import REPO


def test_shipped_experiments_load(data_root: Path) -> None:
    specs = sorted((REPO / "experiments").glob("*.yaml"))
    assert len(specs) >= 2
    for p in specs:
        exp = load_plan(p, env={"HARNESS_DATA_ROOT": str(data_root)})
        assert exp.systems
