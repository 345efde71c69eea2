"""The runs of other systems of the spec that a stage reads (fusion inputs, `use`)."""

from __future__ import annotations

from harness.errors import SystemConfigError
from harness.records import Run
from harness.systems import StageContext


def read_run(ctx: StageContext, name: str, stage: str) -> Run:
    """The finished run of system `name`, which a stage of type `stage` reads."""
    run = ctx.runs.get(name)
    if run is None:  # the plan orders every system a stage reads before it
        raise SystemConfigError(
            f"'{stage}' reads system '{name}', which has no run on dataset '{ctx.dataset.name}'",
            hint="name a system of the same spec (a single sweep variant by its full name)",
        )
    return run
