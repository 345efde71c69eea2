"""The one plain-text table renderer of the command line (run summary, datasets, systems, cache, compare).

rich lays the table out; the result is always plain text: no colour, no ANSI codes, whatever the
terminal or FORCE_COLOR say, so output piped to a file or read by a test is the same as on screen.
The width follows the content, never the terminal, so a long cell widens its column instead of
wrapping and each row stays one greppable line.

This module imports nothing from harness.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

Justify = Literal["left", "right", "center"]
_JUSTIFY: dict[str, Justify] = {"l": "left", "r": "right", "c": "center"}
_GAP = 1  # each column's right padding; the box adds one more space between columns

# ASCII only (CI logs, Windows consoles): a dashed rule under the header and above footer rows,
# a space between columns, no outer frame.
_PLAIN_BOX = box.Box("    \n    \n -  \n    \n -  \n -  \n    \n    \n", ascii=True)


class TableShapeError(ValueError):
    """A caller passed rows or alignments that do not match the header (a bug in the caller)."""


def render_table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    align: str = "",
    footer: Sequence[Sequence[object]] = (),
    indent: int = 0,
) -> str:
    """HEADER, a dashed rule, ROWS and, after another rule, FOOTER rows (totals), as plain text.

    ALIGN has one letter per column: l(eft), r(ight) or c(enter); empty means all left. Cells are
    shown with str(); None shows as an empty cell. Every line is indented by INDENT spaces and
    carries no trailing blanks.
    """
    justify = _justify(align, len(header))
    body = [_cells(r, len(header), "row") for r in rows]
    feet = [_cells(r, len(header), "footer row") for r in footer]
    table = Table(box=_PLAIN_BOX, show_edge=False, pad_edge=False, padding=(0, _GAP, 0, 0), expand=False)
    for name, j in zip(header, justify, strict=True):
        table.add_column(Text(name), justify=j, no_wrap=True)
    for i, cells in enumerate(body):
        table.add_row(*cells, end_section=bool(feet) and i == len(body) - 1)
    for cells in feet:
        table.add_row(*cells)
    width = _content_width([[Text(h) for h in header], *body, *feet])
    buf = io.StringIO()
    # force_terminal=False and color_system=None win over FORCE_COLOR/TTY detection: never ANSI.
    Console(
        file=buf,
        width=width,
        force_terminal=False,
        force_jupyter=False,
        color_system=None,
        no_color=True,
        markup=False,
        emoji=False,
        highlight=False,
        legacy_windows=False,
    ).print(table)
    pad = " " * indent
    return "\n".join((pad + line).rstrip() for line in buf.getvalue().splitlines())


def _justify(align: str, columns: int) -> list[Justify]:
    if not align:
        return ["left"] * columns
    if len(align) != columns or any(a not in _JUSTIFY for a in align):
        raise TableShapeError(
            f"align={align!r} does not fit {columns} columns: give one letter per column, each l, r or c"
        )
    return [_JUSTIFY[a] for a in align]


def _cells(row: Sequence[object], columns: int, what: str) -> list[Text]:
    if len(row) != columns:
        raise TableShapeError(f"a {what} has {len(row)} cells for {columns} columns: pad it with None or ''")
    # Text, not str: cell contents are data, never rich markup ("[bold]", ":smile:").
    return [Text("" if v is None else str(v)) for v in row]


def _content_width(rows: list[list[Text]]) -> int:
    """The width that fits every cell unwrapped: widest cell per column plus the gaps between."""
    widths = [max(cell_len(r[i].plain) for r in rows) for i in range(len(rows[0]))]
    return max(1, sum(widths) + (2 * _GAP) * (len(widths) - 1) + 1)
