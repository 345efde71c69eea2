"""The order systems run in: spec order, except that a system comes after the systems whose
runs it reads (fusion inputs, `use`). Checked when the spec loads, so that a reference to a
system the spec does not define is reported at its line before anything runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from harness.errors import SystemConfigError
from harness.plugins import did_you_mean
from harness.systems import STAGES

if TYPE_CHECKING:
    from harness.spec import SystemVariant


def dependencies(variant: SystemVariant) -> list[str]:
    """Names of the systems whose runs `variant` reads."""
    return [d for c in variant.stages for d in STAGES.get(c.type).dependencies(c.params)]


def order_systems(
    variants: Sequence[SystemVariant], locate: Callable[[str], tuple[str | None, int | None]] | None = None
) -> list[SystemVariant]:
    """Spec order, except that a system comes after every system it reads.

    `locate(system)` gives the file and line where a system is defined, for the errors."""
    by_name = {v.name: v for v in variants}
    bases: dict[str, list[SystemVariant]] = {}
    for v in variants:
        bases.setdefault(v.base, []).append(v)

    def where(owner: SystemVariant) -> tuple[str | None, int | None]:
        return locate(owner.base) if locate is not None else (None, None)

    def targets(name: str, owner: SystemVariant) -> list[SystemVariant]:
        if name in by_name:
            return [by_name[name]]
        if name in bases:
            if len(bases[name]) > 1:
                raise SystemConfigError(
                    f"system '{owner.base}' reads '{name}', which is a sweep of {len(bases[name])} variants",
                    hint="name one variant exactly: " + ", ".join(v.name for v in bases[name]),
                    path=where(owner)[0],
                    line=where(owner)[1],
                )
            return bases[name]
        raise SystemConfigError(
            f"system '{owner.base}' reads system '{name}', which the spec does not define",
            hint=f"{did_you_mean(name, sorted(by_name))}systems: {', '.join(sorted(by_name))}",
            path=where(owner)[0],
            line=where(owner)[1],
        )

    ordered: list[SystemVariant] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(v: SystemVariant) -> None:
        if state.get(v.name) == 2:
            return
        if state.get(v.name) == 1:
            path, line = where(v)
            raise SystemConfigError(f"systems read each other in a cycle through '{v.name}'", path=path, line=line)
        state[v.name] = 1
        for dep in dependencies(v):
            for t in targets(dep, v):
                visit(t)
        state[v.name] = 2
        ordered.append(v)

    for v in variants:
        visit(v)
    return ordered
