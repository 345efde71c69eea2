"""The one table renderer: plain text, aligned columns, no ANSI codes, long cells kept whole."""

from __future__ import annotations

import pytest

from harness.tables import TableShapeError, render_table


def test_columns_align_left_and_right_under_a_rule() -> None:
    text = render_table(("id", "docs"), [("beir/scifact/test", 5183), ("x", 7)], align="lr")
    header, rule, first, second = text.splitlines()
    assert header.startswith("id ")
    assert set(rule) == {"-", " "}
    assert first == "beir/scifact/test  5183"
    assert second.startswith("x ")
    assert second.endswith("   7")  # right-aligned under 5183
    assert len(first) == len(second) == len(header)  # the last column is right-aligned: same length


def test_footer_rows_follow_a_second_rule_and_none_is_an_empty_cell() -> None:
    text = render_table(("kind", "n", "note"), [("a", 1, None)], align="lrl", footer=[("total", 1, "")])
    lines = text.splitlines()
    assert lines[2].split() == ["a", "1"]
    assert set(lines[3]) == {"-", " "}
    assert lines[4].split() == ["total", "1"]


def test_no_ansi_codes_and_no_markup_even_when_colour_is_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "20")
    text = render_table(("name", "value"), [("[bold]red[/bold]", ":smile:"), ("▲ up", "0.5")])
    assert "\x1b" not in text
    assert "[bold]red[/bold]" in text  # cells are data, never rich markup
    assert ":smile:" in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_a_long_cell_widens_its_column_and_never_wraps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")  # the terminal width plays no part
    long = "k1=0.9, " * 60
    text = render_table(("type", "parameters", "n"), [("bm25", long.strip(), 1), ("dense", "model", 22)], align="llr")
    lines = text.splitlines()
    assert len(lines) == 4
    assert long.strip() in lines[2]
    assert lines[3].endswith("22")
    assert lines[2].endswith(" 1")


def test_indent_prefixes_every_line() -> None:
    text = render_table(("a", "b"), [("1", "2")], indent=2)
    assert all(line.startswith("  ") for line in text.splitlines())


@pytest.mark.parametrize(
    ("rows", "align", "needle"),
    [
        ([("only one",)], "", "pad it with None"),
        ([("a", "b")], "l", "one letter per column"),
        ([("a", "b")], "lx", "each l, r or c"),
    ],
)
def test_shape_mistakes_are_typed_errors_naming_the_fix(rows: list[tuple[str, ...]], align: str, needle: str) -> None:
    with pytest.raises(TableShapeError, match=needle):
        render_table(("a", "b"), rows, align=align)
