"""A spec file read once: YAML composed into nodes, values built from those nodes while the
line of every key and list item is recorded, a key repeated in one mapping refused, and
`${VAR}` / `${VAR:-default}` interpolated in string values.

Scalars are built by PyYAML's SafeConstructor (so `0.9`, `true`, `off` and dates mean what
they mean to `yaml.safe_load`), except two YAML 1.1 number forms nobody means in a spec: a
leading zero (`010` is the octal number 8) and colons (`1:30` is the base-60 number 90); both
are refused with the fix. Mappings and lists are built here, because safe_load silently keeps
the last of two equal keys and forgets where anything was. Size, depth and alias expansion are
bounded before anything is built (`yaml_limits`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from harness.errors import SpecError
from harness.names import shorten
from harness.plan.yaml_limits import MAX_VALUES, SpecLoader, check_expansion, check_file_size

PathKey = tuple[Hashable, ...]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_OCTAL = re.compile(r"[-+]?0[0-7_]+")


@dataclass(frozen=True)
class SpecLines:
    """Line numbers (1-based) of every key and list item of a spec, by path from the root."""

    lines: Mapping[PathKey, int] = field(default_factory=dict)

    def at(self, path: Sequence[Hashable]) -> int | None:
        """The line of `path`, else of its nearest enclosing key (pydantic's error locations
        can end in names that are not keys of the file, such as a union branch)."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get(())


@dataclass(frozen=True)
class YamlDocument:
    """The interpolated value of a spec file and where each part of it was written."""

    data: Any
    lines: SpecLines


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, where: Path, env: Mapping[str, str]) -> None:
        self.loader = loader
        self.where = where
        self.env = env
        self.lines: dict[PathKey, int] = {}
        self.active: set[int] = set()  # nodes being built: an alias to one of them is a cycle
        self.checked: set[int] = set()  # mappings already checked for repeated keys
        self.count = 0

    def error(self, message: str, line: int | None, hint: str | None = None) -> SpecError:
        return SpecError(message, path=self.where, line=line, hint=hint)

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(path, line)
        self.count += 1
        if self.count > MAX_VALUES:  # check_expansion counted first; merge keys may add a few
            raise self.error(f"the spec expands to more than {MAX_VALUES} values", line, "check its YAML aliases")
        if id(node) in self.active:
            raise self.error("a YAML alias refers to the mapping or list that contains it", line)
        if isinstance(node, yaml.ScalarNode) and node.tag in _NUMBER_TAGS:
            self._refuse_surprising_number(node, line)
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            self.active.add(id(node))
            try:
                return self._mapping(node, path)
            finally:
                self.active.discard(id(node))
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            self.active.add(id(node))
            try:
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            finally:
                self.active.discard(id(node))
        value = self.loader.construct_object(node, deep=True)
        return self._interpolate(value, path) if isinstance(value, str) else value

    def _refuse_surprising_number(self, node: yaml.ScalarNode, line: int) -> None:
        text = node.value
        if ":" in text:
            kind, fix = "base-60", "without colons"
        elif _OCTAL.fullmatch(text):
            kind, fix = "octal", "without a leading zero"
        else:
            return
        shown = shorten(text)
        raise self.error(
            f"YAML 1.1 reads {shown} as the {kind} number {shorten(str(self.loader.construct_object(node)))}",
            line,
            f"write the number {fix}, or quote it ('{shown}') if it is text",
        )

    def _key(self, node: yaml.Node) -> Hashable:
        if isinstance(node, yaml.ScalarNode):
            if node.tag in _NUMBER_TAGS:
                self._refuse_surprising_number(node, node.start_mark.line + 1)
            key = self.loader.construct_object(node)
            if isinstance(key, Hashable):
                return key
        raise self.error("a mapping key must be a plain word or number", node.start_mark.line + 1)

    def _check_repeats(self, node: yaml.MappingNode) -> None:
        if id(node) in self.checked:
            return
        self.checked.add(id(node))
        seen: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key, line = self._key(key_node), key_node.start_mark.line + 1
            if key in seen:
                raise self.error(
                    f"key '{key}' appears twice (lines {seen[key]} and {line})",
                    line,
                    "keep one of them: YAML would silently use the last",
                )
            seen[key] = line

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Hashable, Any]:
        self._check_repeats(node)
        # `<<: *anchor` merges first, so the mapping's own keys override merged ones.
        self.loader.flatten_mapping(node)
        out: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            child = (*path, key)
            self.lines[child] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, child)
        return out

    def _interpolate(self, text: str, path: PathKey) -> str:
        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            raise self.error(
                f"environment variable '{name}' is not set",
                self.lines.get(path),
                f"export {name}=... or write ${{{name}:-default}}",
            )

        return _ENV.sub(sub, text)


def _read_text(where: Path) -> str:
    if not where.is_file():
        raise SpecError("spec file not found", path=where, hint="give the path of a YAML spec")
    check_file_size(where)
    try:
        return where.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError("spec file is not UTF-8", path=where) from None


def _malformed(exc: yaml.YAMLError, path: Path) -> SpecError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return SpecError(
        f"malformed YAML: {problem}",
        path=path,
        line=mark.line + 1 if mark is not None else None,
        hint="check indentation and quoting",
    )


def read_yaml(path: Path, env: Mapping[str, str]) -> YamlDocument:
    """Parse a spec file once into its interpolated value and the line of each key and item."""
    text = _read_text(path)
    try:
        loader = SpecLoader(text, path)  # reads the text already: refuses control characters
    except yaml.YAMLError as exc:
        raise _malformed(exc, path) from None
    builder = _Builder(loader, path, env)
    try:
        node = loader.get_single_node()
        if node is not None:
            check_expansion(node, path)
        data = builder.build(node, ()) if node is not None else None
    except yaml.YAMLError as exc:
        raise _malformed(exc, path) from None
    finally:
        loader.dispose()
    return YamlDocument(data=data, lines=SpecLines(MappingProxyType(builder.lines)))
