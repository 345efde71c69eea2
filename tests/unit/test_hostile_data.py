"""Hostile data files: every input is either read exactly as trec_eval reads it, or refused with a
one-line DataError naming the file and line. Classes here: numbers (odd digits, `_`, inf/nan,
absurd labels), column separators (mixed tabs/spaces, Unicode spaces), comments. Duplicates,
JSON values and dataset references: test_hostile_duplicates.py; pipes: tests/contract/test_stdin_pipes.py;
real files of the shared data: tests/contract/test_hostile_real_files.py and test_conformance.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.data.trec import read_qrels, read_run
from harness.errors import DataError
from tests.hostile import SETTINGS, ids, raises_at
from tests.support import run_cli

T = TypeVar("T")
C_SPACE = " \t\v\f\r"  # C isspace within a line: what trec_eval splits on
separators = st.text(alphabet=" \t", min_size=1, max_size=3)


def _atol(text: str) -> int:
    """What C atol reads: optional sign, then ASCII digits, stopping at anything else."""
    m = re.match(r"[+-]?[0-9]*", text, re.ASCII)
    digits = m.group() if m else ""
    return int(digits) if digits.lstrip("+-") else 0


def _atof(text: str) -> float:
    m = re.match(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", text, re.ASCII)
    return float(m.group()) if m else 0.0


# --- numbers ---------------------------------------------------------------------------------

BAD_LABELS = ["1_0", "\u0661", "\uff11", "1e1", "1.5", "inf", "nan", "0x1", "99999999999", "1001", "-1001", "yes"]
BAD_SCORES = ["1_000", "\u0661\u0662", "\uff11", "inf", "-inf", "nan", "NaN", "Infinity", "0x1p3", "1e999", "1,5"]


@SETTINGS
@given(bad=st.sampled_from(BAD_LABELS), before=st.integers(0, 4), after=st.integers(0, 3))
def test_odd_labels_are_refused_at_their_line(tmp_path: Path, bad: str, before: int, after: int) -> None:
    lines = [f"q{i} 0 d{i} 1" for i in range(before)] + [f"qx 0 dx {bad}"] + [f"r{i} 0 d 0" for i in range(after)]
    path = tmp_path / "qrels"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with raises_at(path, before + 1, "relevance"):
        read_qrels(path)


@pytest.mark.parametrize(("text", "value"), [("+1", 1), ("-1", -1), ("01", 1), ("2.0", 2), ("3.", 3), ("1000", 1000)])
def test_labels_trec_eval_reads_the_same_are_accepted(tmp_path: Path, text: str, value: int) -> None:
    path = tmp_path / "qrels"
    # a second judgment of 0: a query judged only with negative labels is refused (test_bad_input)
    path.write_text(f"q 0 d {text}\nq 0 e 0\n")
    assert read_qrels(path) == {"q": {"d": value, "e": 0}}
    assert value == _atol(text)


@SETTINGS
@given(bad=st.sampled_from(BAD_SCORES), before=st.integers(0, 4))
def test_odd_scores_are_refused_at_their_line(tmp_path: Path, bad: str, before: int) -> None:
    lines = [f"q Q0 d{i} {i + 1} {10 - i} t" for i in range(before)] + [f"q Q0 dx 9 {bad} t"]
    path = tmp_path / "run"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with raises_at(path, before + 1, "score"):
        read_run(path)


@SETTINGS
@given(score=st.floats(allow_nan=False, allow_infinity=False), style=st.sampled_from(["repr", "e", "f", "+"]))
def test_finite_scores_in_any_ascii_notation_read_exactly(tmp_path: Path, score: float, style: str) -> None:
    text = {"repr": repr(score), "e": f"{score:.17e}", "f": f"{score:.30f}", "+": f"{score:+}"}[style]
    path = tmp_path / "run"
    path.write_text(f"q Q0 d 1 {text} t\n")
    assert read_run(path)["q"][0].score == float(text) == _atof(text)


# --- columns: whatever is accepted is what trec_eval reads ----------------------------------

# Well-formed lines, with (half the time) one hostile insertion somewhere in one line: Unicode
# spaces and digits, information separators, NUL, `_`, `#`, notation atol/atof read differently.
space = st.lists(st.sampled_from([" ", "\t", "\v", "\f"]), min_size=1, max_size=2).map("".join)
insertions = st.sampled_from(
    ["\u00a0", "\u2003", "\x1c", "\x00", "_", "\u0661", "#", "\uff11", "e1", ".5", "x", " ", "\t", "inf", "nan"]
)


@st.composite
def _spoiled(draw: st.DrawFn, lines: list[str]) -> list[str]:
    if draw(st.booleans()):
        i = draw(st.integers(0, len(lines) - 1))
        at = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:at] + draw(insertions) + lines[i][at:]
    return lines


@st.composite
def qrels_lines(draw: st.DrawFn) -> list[str]:
    rows = draw(st.lists(st.tuples(ids, ids, st.integers(-2, 4)), min_size=1, max_size=4))
    cols = [[q, "0", d, str(r)] for q, d, r in rows]
    return draw(_spoiled(["".join(c + draw(space) for c in row) for row in cols]))


@st.composite
def run_lines(draw: st.DrawFn) -> list[str]:
    scores = st.floats(allow_nan=False, allow_infinity=False).map(repr)
    rows = draw(st.lists(st.tuples(ids, ids, scores), min_size=1, max_size=4))
    cols = [[q, "Q0", d, "1", score, "tag"] for q, d, score in rows]
    return draw(_spoiled(["".join(c + draw(space) for c in row) for row in cols]))


def _read_or_refuse(read: Callable[[Path], T], path: Path, lines: list[str]) -> T | None:
    """What `read` makes of the lines, or None after checking that its refusal is one line
    naming the file."""
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    error: DataError | None = None
    try:
        return read(path)
    except DataError as exc:
        error = exc
    assert error.path == str(path)
    assert "\n" not in str(error)
    return None


def _c_columns(line: str) -> list[str]:
    return re.split(f"[{C_SPACE}]+", line.strip(C_SPACE))


@SETTINGS
@given(lines=qrels_lines())
def test_accepted_qrels_lines_read_as_trec_eval_reads_them(tmp_path: Path, lines: list[str]) -> None:
    got = _read_or_refuse(read_qrels, tmp_path / "qrels", lines)
    if got is None:
        return
    want: dict[str, dict[str, int]] = {}
    for cols in map(_c_columns, lines):
        if cols[0].startswith("#") or cols == [""]:
            continue  # a comment (trec_eval 10: '#' first; an indented one is refused) or blank
        assert len(cols) == 4
        want.setdefault(cols[0], {})[cols[2]] = _atol(cols[3])
    assert got == want


@SETTINGS
@given(lines=run_lines())
def test_accepted_run_lines_read_as_trec_eval_reads_them(tmp_path: Path, lines: list[str]) -> None:
    got = _read_or_refuse(read_run, tmp_path / "run", lines)
    if got is None:
        return
    want: dict[str, dict[str, float]] = {}
    for cols in map(_c_columns, lines):
        if not cols[0].startswith("#"):  # trec_eval 10 skips lines whose first non-blank is '#'
            want.setdefault(cols[0], {})[cols[2]] = _atof(cols[4])
    assert got.as_dict() == want


@SETTINGS
@given(
    judged=st.dictionaries(st.tuples(ids, ids), st.integers(-1, 4), min_size=1, max_size=8),
    seps=st.lists(separators, min_size=3, max_size=3),
    margin=st.sampled_from(["", " ", "\t", "  \t"]),
    comments=st.lists(st.integers(0, 8), max_size=3),
    crlf=st.booleans(),
)
def test_trec_qrels_with_any_whitespace_and_comments_read_the_same(
    tmp_path: Path,
    judged: dict[tuple[str, str], int],
    seps: list[str],
    margin: str,
    comments: list[int],
    crlf: bool,
) -> None:
    lines = [f"{margin}{q}{seps[0]}0{seps[1]}{d}{seps[2]}{r}{margin}" for (q, d), r in judged.items()]
    for at in sorted(comments, reverse=True):
        lines.insert(min(at, len(lines)), "# a comment\twith 4 columns")
    path = tmp_path / "qrels"
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode() + b"\n")
    want: dict[str, dict[str, int]] = {}
    for (q, d), r in judged.items():
        want.setdefault(q, {})[d] = r
    beir = tmp_path / "qrels.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{r}\n" for (q, d), r in judged.items()))
    if any(all(r < 0 for r in docs.values()) for docs in want.values()):
        # a query judged only with negative labels is refused (pytrec_eval crashes on it)
        for f in (path, beir):
            with pytest.raises(DataError, match="judged only with negative labels"):
                read_qrels(f)
        return
    assert read_qrels(path) == want
    assert read_qrels(beir) == want


@pytest.mark.parametrize(
    ("text", "line", "needles"),
    [
        ("q1\td1\t1\n", 1, ["format not recognised", "3 whitespace-separated columns", "query-id<TAB>corpus-id"]),
        ("query-id corpus-id score\nq1\td1\t1\n", 1, ["not tab-separated"]),
        ("query-id\tcorpus-id\tscore\nq1 0 d1 1\n", 2, ["1 tab-separated columns, expected 3"]),
        ("query-id\tcorpus-id\tscore\nq 1\td1\t1\n", 2, ["whitespace"]),
        ("q1 0 d1 1\n  # indented comment x\n", 2, ["indented '#'"]),
        ("q1 0 d1 1\nq1 0 d2\n", 2, ["3 columns, expected 4"]),
        ("q1\u00a00 d1 1\n", 1, ["format not recognised"]),
        ("q1 0 d\u00a01 1\n", 1, ["document id 'd\\xa01' is empty or contains whitespace"]),
        ("q1 0 d1\x00x 1\n", 1, ["control character"]),
        ("#q 0 d 1\n", None, ["no judgments"]),
    ],
)
def test_ambiguous_or_malformed_qrels_are_refused(
    tmp_path: Path, text: str, line: int | None, needles: list[str]
) -> None:
    path = tmp_path / "qrels"
    path.write_text(text, encoding="utf-8")
    with raises_at(path, line, *needles):
        read_qrels(path)


def test_mixed_separators_no_longer_read_as_beir(tmp_path: Path) -> None:
    path = tmp_path / "qrels"
    path.write_text("q1 0\td1\t1\nq1\t0 d2 2\n")  # once read as BEIR: query 'q1 0', doc 'd1'
    assert read_qrels(path) == {"q1": {"d1": 1, "d2": 2}}


@pytest.mark.parametrize(
    ("text", "line", "needles"),
    [
        ("q1\u00a0Q0 d1 1 2 t\n", 1, ["5 columns"]),
        ("q1 Q0 d1\x1cx 1 2 t\n", 1, ["control character"]),
        ("q1 Q0 d1 1 2 t\n#q2 Q0 d1 1 2 t\nq1 Q0 d1 2 1 t\n", 3, ["appears twice", "first on line 1"]),
    ],
)
def test_malformed_runs_are_refused(tmp_path: Path, text: str, line: int, needles: list[str]) -> None:
    path = tmp_path / "run"
    path.write_text(text, encoding="utf-8")
    with raises_at(path, line, *needles):
        read_run(path)


@pytest.mark.parametrize(
    ("qrels", "run", "where", "needle"),
    [
        ("q 0 d 1_0\n", "q Q0 d 1 1 t\n", "qrels:1:", "relevance '1_0' is not an integer"),
        ("q 0 d 1\nq 0 d 2\n", "q Q0 d 1 1 t\n", "qrels:2:", "twice with different labels (1 on line 1, 2 here)"),
        ("q\td\t1\n", "q Q0 d 1 1 t\n", "qrels:1:", "qrels format not recognised"),
        ("q 0 d 99999999999\n", "q Q0 d 1 1 t\n", "qrels:1:", "outside -1000..1000"),
        ("q 0 d 1\n", "q Q0 d 1 \uff11 t\n", "run:1:", "score '\uff11' is not a number"),
    ],
)
def test_eval_command_exits_2_with_one_line(tmp_path: Path, qrels: str, run: str, where: str, needle: str) -> None:

    (tmp_path / "qrels").write_text(qrels, encoding="utf-8")
    (tmp_path / "run").write_text(run, encoding="utf-8")
    code, out, err = run_cli("eval", str(tmp_path / "qrels"), str(tmp_path / "run"))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"error: {tmp_path / where}")
    assert needle in err
