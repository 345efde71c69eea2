"""Limits that stop a hostile spec file before it costs much time or memory.

A real spec is a few kilobytes (the examples in experiments/ are under 3 KB) and a few levels
deep; the limits are far above that and far below what hurts:

- `MAX_SPEC_BYTES` (256 KiB, a hundred times the largest example): PyYAML's pure-Python parser
  reads dense YAML (a list of a hundred thousand one-character items) at only 40-70 KB/s, so the
  worst file under the limit takes a few seconds, and a 50 MB one would take many minutes.
  Checked before reading.
- `MAX_DEPTH` (32 levels of mappings and lists, counted through aliases): PyYAML composes
  nodes recursively, so `[[[[...` thousands deep would exhaust the stack. Checked while composing.
- `MAX_VALUES` (200,000 keys, values and list items, counted through aliases): ten nested
  anchors that each repeat the one before nine times ("billion laughs") expand a 1 KB file into
  a billion values. Checked on the composed node graph, where an alias is one shared node,
  before anything is built: refusing such a file takes milliseconds and no memory.
- `MAX_TEXT` (8 MiB of keys and scalars, counted through aliases): a 100 KB string repeated by
  thirty thousand aliases is 3 GB once the spec is hashed and stored in results.json.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.errors import SpecError

MAX_SPEC_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_VALUES = 200_000
MAX_TEXT = 8 * 1024 * 1024


def check_file_size(where: Path) -> None:
    size = where.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError(
            f"the spec file is {size:,} bytes, more than the {MAX_SPEC_BYTES:,} a spec may have",
            path=where,
            hint="a spec lists datasets and systems; sweeps expand lists of values, so it stays small",
        )


class SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than `MAX_DEPTH` while it composes (its
    composer recurses once per level, so a deep file would otherwise end in RecursionError)."""

    def __init__(self, text: str, where: Path) -> None:
        super().__init__(text)
        self.where = where
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
                raise _too_deep(self.where, event.start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _too_deep(where: Path, line: int) -> SpecError:
    return SpecError(
        f"the spec nests mappings and lists more than {MAX_DEPTH} levels deep",
        path=where,
        line=line,
        hint="a spec needs a handful of levels; check its brackets, indentation and YAML aliases",
    )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def check_expansion(root: yaml.Node, where: Path) -> None:
    """Refuse a node graph that aliases expand beyond `MAX_VALUES` values, `MAX_TEXT`
    characters or `MAX_DEPTH` levels, or in which an alias refers to a mapping or list that
    contains it.

    Each distinct node is visited once (sizes are memoised), without recursion (a chain of
    aliases can be as long as the file)."""
    size: dict[int, int] = {}
    text: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()  # entered and not finished: reaching one again is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            text[key] = len(node.value) if isinstance(node, yaml.ScalarNode) else sum(text[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            _check_node(node, (size[key], text[key], depth[key]), where)
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise SpecError("a YAML alias refers to the mapping or list that contains it", path=where, line=_line(node))
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def _check_node(node: yaml.Node, measures: tuple[int, int, int], where: Path) -> None:
    # The first node over a limit is the innermost one: its line is where the aliases multiply.
    size, text, depth = measures
    for over, what in ((size > MAX_VALUES, f"{MAX_VALUES:,} values"), (text > MAX_TEXT, f"{MAX_TEXT:,} characters")):
        if over:
            raise SpecError(
                f"this part of the spec expands to more than {what} through YAML aliases",
                path=where,
                line=_line(node),
                hint="a spec never needs that much; check its anchors (&name) and aliases (*name)",
            )
    if depth > MAX_DEPTH:
        raise _too_deep(where, _line(node))
