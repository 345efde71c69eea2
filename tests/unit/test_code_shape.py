"""The shape rules of docs/architecture.md, enforced: small modules, short functions, one name
per module. (Layering and import cycles are checked by import-linter: `lint-imports`.)"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from tests.support import REPO

PACKAGE = REPO / "harness"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_is_found() -> None:
    assert len(_modules()) > 40


def test_no_module_is_longer_than_400_lines() -> None:
    long = {
        p.relative_to(PACKAGE).as_posix(): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_longer_than_80_lines() -> None:
    long: dict[str, int] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if (n := node.end_lineno - first + 1) > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno} {node.name}"] = n
    assert long == {}


def test_no_two_modules_share_a_name() -> None:
    names = Counter(p.stem for p in _modules() if p.stem not in ("__init__", "__main__"))
    packages = Counter(p.parent.name for p in _modules() if p.name == "__init__.py")
    clashes = {n for n in names if names[n] > 1 or n in packages}
    assert clashes == set()
