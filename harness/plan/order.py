"""The order systems run in: spec order, except that a system comes after the systems whose
runs it reads (fusion inputs, `use`). Computed once, when the spec loads, so that a reference
to a system the spec does not define is reported at its line before anything runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.errors import SpecError
from harness.plan.crossrefs import resolve_variant
from harness.plan.variants import SystemVariant

Locate = Callable[[str], tuple[str | None, int | None]]
"""System base name -> (spec file, line) where it is defined."""


def dependencies(variant: SystemVariant) -> list[str]:
    """Names of the systems whose runs `variant` reads."""
    return [d for c in variant.stages for d in c.params.reads()]


def order_systems(variants: Sequence[SystemVariant], locate: Locate | None = None) -> list[SystemVariant]:
    """Spec order, except that a system comes after every system it reads.

    `locate(system)` gives the file and line where a system is defined, for the errors."""

    def where(owner: SystemVariant) -> tuple[str | None, int | None]:
        return locate(owner.base) if locate is not None else (None, None)

    def target(name: str, owner: SystemVariant) -> SystemVariant:
        try:
            return resolve_variant(name, variants, f"system '{owner.base}' reads")
        except SpecError as exc:
            path, line = where(owner)
            raise exc.locate(path, line) if path is not None else exc from None

    ordered: list[SystemVariant] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(v: SystemVariant) -> None:
        if state.get(v.name) == 2:
            return
        if state.get(v.name) == 1:
            path, line = where(v)
            raise SpecError(f"systems read each other in a cycle through '{v.name}'", path=path, line=line)
        state[v.name] = 1
        for dep in dependencies(v):
            visit(target(dep, v))
        state[v.name] = 2
        ordered.append(v)

    for v in variants:
        visit(v)
    return ordered
