"""File names from dataset and system names: one slug rule for run files, cell records and plots."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.names import refuse_slug_collisions, slug, slug_collisions, unique_slugs


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bm25@k1=0.9", "bm25@k1=0.9"),  # sweep variants keep their characters (run file names)
        ("bm25@k1=0.9,b=0.4", "bm25@k1=0.9,b=0.4"),
        ("rrf+ce", "rrf+ce"),
        ("beir/scifact/test", "beir_scifact_test"),
        ("x y", "x_y"),
        ("a<>b", "a__b"),  # one '_' per character: separators never vanish
        (".hidden.", "hidden"),
        ("..", "_"),
        ("", "_"),
        ("../../etc/passwd", "_.._etc_passwd"),
    ],
)
def test_slug_rule(name: str, expected: str) -> None:
    assert slug(name) == expected


@pytest.mark.parametrize("name", ["", ".", "..", "...", "/", "a/../b", "\\..\\", "é", "\n"])
def test_slug_is_one_plain_file_name(tmp_path: Path, name: str) -> None:
    s = slug(name)
    assert s
    assert s not in (".", "..")
    assert not s.startswith(".")
    assert "/" not in s
    assert "\\" not in s
    assert (tmp_path / s).resolve().parent == tmp_path.resolve()


def test_collisions_are_pairs_of_distinct_names() -> None:
    assert slug_collisions(["bm25", "bm25."]) == [("bm25", "bm25.")]
    assert slug_collisions(["x/y", "dense", "x_y", "x y"]) == [("x/y", "x_y"), ("x/y", "x y"), ("x_y", "x y")]
    assert slug_collisions(["bm25@k1=0.9", "bm25@k1=1.2", "bm25", "bm25"]) == []  # a repeat is no collision
    with pytest.raises(SpecError, match=r"systems 'x/y' and 'x_y' would both .* 'x_y'") as exc:
        refuse_slug_collisions(["x/y", "x_y"], "systems")
    assert exc.value.hint is not None
    assert "rename one" in exc.value.hint


def test_unique_slugs_number_the_later_names() -> None:
    assert unique_slugs(["x/y", "x_y", "x_y-2", "dsA", "x y", "dsA"]) == {
        "x/y": "x_y",
        "x_y": "x_y-2",
        "x_y-2": "x_y-2-2",
        "dsA": "dsA",
        "x y": "x_y-3",
    }
