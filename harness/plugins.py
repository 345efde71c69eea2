"""A named registry with did-you-mean errors and lazy autodiscovery of a subpackage."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Generic, TypeVar

from harness.errors import HarnessError
from harness.names import did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to plugins. Modules of `package` register themselves on first lookup,
    so importing harness has no side effects and adding a plugin is adding one file."""

    def __init__(self, kind: str, package: str, error: type[HarnessError] = HarnessError) -> None:
        self.kind = kind
        self.package = package
        self.error = error
        self._items: dict[str, T] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[T], T]:
        def deco(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = item
            return item

        return deco

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._items)

    def get(self, name: str, *, path: str | None = None, line: int | None = None) -> T:
        self._discover()
        if name not in self._items:
            names = self.names()
            raise self.error(
                f"unknown {self.kind} '{name}'",
                path=path,
                line=line,
                hint=f"{did_you_mean(name, names)}valid: {', '.join(names)}",
            )
        return self._items[name]
