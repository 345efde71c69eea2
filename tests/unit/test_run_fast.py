"""The evaluator's fast path: the vectorised run reader reads every input exactly as the strict
line reader does (same rows and scores, or the same error at the same line), and the measures
computed from arrays equal pytrec_eval's to 1e-9, trec_eval -c semantics included."""

from __future__ import annotations

import gzip
import io
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.data import run_fast
from harness.data.run_fast import read_run_table
from harness.data.trec import read_run
from harness.errors import DataError
from harness.evaluation.measures import evaluate, parse_measure
from harness.evaluation.run_table import RunTable, query_bounds
from harness.records import Run, ScoredDoc
from tests.hostile import SETTINGS, ids


def as_dict(table: RunTable) -> dict[str, dict[str, float]]:
    order = table.trec_order()
    bounds = query_bounds(table.query, len(table.query_ids))
    return table.as_dicts(order, bounds, None)


def outcome(read: object, path: Path) -> tuple[str, object]:
    """('ok', [(query, {doc: score bits})] in query order) or ('error', the one-line message).
    Scores as float.hex: -0.0 and 0.0 differ."""
    try:
        got = read(path)  # type: ignore[operator]
    except DataError as exc:
        return "error", str(exc)
    docs = as_dict(got) if isinstance(got, RunTable) else got.as_dict()
    return "ok", [(q, {d: s.hex() for d, s in ds.items()}) for q, ds in docs.items()]


def same_as_strict(path: Path) -> tuple[str, object]:
    fast, strict = outcome(read_run_table, path), outcome(read_run, path)
    assert fast == strict
    return fast


def test_a_well_formed_run_takes_the_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "run"
    path.write_text("q1 Q0 d1 1 2.5 t\nq1 Q0 d2 2 2.5 t\nq2 Q0 d1 1 -1e-3 t\nq1 Q0 d0 3 7 t")
    buf, size, _ = run_fast._load(path, None)
    table = run_fast._fast(buf, size)
    assert table is not None
    assert table.query_ids == ("q1", "q2")
    assert as_dict(table) == {"q1": {"d0": 7.0, "d2": 2.5, "d1": 2.5}, "q2": {"d1": -0.001}}
    assert same_as_strict(path)[0] == "ok"


@pytest.mark.parametrize(
    "text",
    [
        "q Q0 d 1 1 t\n# comment\nq Q0 e 2 0.5 t\n",  # comments
        "q\tQ0\td\t1\t1\tt\n",  # tabs
        "q Q0 d 1 1 t\r\nq Q0 e 2 0 t\r\n",  # CRLF
        "q Q0 d 1 1 t extra columns\n",  # extra columns
        "\nq  Q0 d 1 1 t \n\n",  # blank lines, runs of spaces
        "\ufeffq Q0 d\u00e9 1 1 t\n",  # BOM, non-ASCII id
        "q Q0 d 1 1_0 t\n",
        "q Q0 d 1 inf t\n",
        "q Q0 d 1 1e999 t\n",
        "q Q0 d 1 nan t\n",
        "q Q0 d 1 0x1p3 t\n",
        "q Q0 d 1 1 t\nq Q0 d 2 2 t\n",  # a repeated document
        "q Q0 d 1 1 t\rq Q0 e 2 0.5 t\n",  # a lone CR: Arrow would end a line there, trec_eval does not
        "#q Q0 d 1 1 t\nq Q0 e 2 0.5 t\n",  # a comment line with six columns
        "q Q0 d 1 1 t\nq Q0 e 2 0.5 ",  # an empty last column, no newline
        "q Q0 d  1 t\n",  # an empty rank column
        " Q0 d 1 1 t\n",  # an empty first column
        "q Q0 d 1 1 t\n\n",  # a blank last line
        "q Q0 d\x01 1 1 t\n",
        "q Q0 d 1 1\n",
        "q Q0 d 1 \x7f t\n",
        "",
        "# only a comment\n",
    ],
)
def test_unusual_or_wrong_files_read_exactly_as_the_strict_reader_reads_them(tmp_path: Path, text: str) -> None:
    path = tmp_path / "run"
    path.write_bytes(text.encode("utf-8"))
    same_as_strict(path)
    packed = tmp_path / "run.gz"
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    same_as_strict(packed)


# Python's float() reads the left column; the fast path (Arrow's parser) must give the same double
# or leave the line to the strict reader. Correct rounding is checked at the edges of the format.
SCORES = ["+2", ".5", "1.", "+.5", "-.5e-3", "1e+5", "1e0005", "00012", "-0", "0e0", "4.9e-324", "1e-400",
          "2.2250738585072011e-308", "1.7976931348623157e308", "0.1000000000000000055511151231257827",
          "9007199254740993", "123456789012345678901234567890"]  # fmt: skip
NOT_READ_FAST = ["1.7976931348623159e308", "1E400", "inf", "-inf", "nan", "NaN", "Infinity", "1_0", "0x10", "1e",
                 "e1", ".", "-", "+-1", "1e+-5", "1.5.5", "1,5", "1d5", "0.5f"]  # fmt: skip


@pytest.mark.parametrize("score", SCORES)
def test_scores_read_fast_are_the_doubles_float_reads(tmp_path: Path, score: str) -> None:
    path = tmp_path / "run"
    path.write_text(f"q Q0 d 1 {score} t\n", encoding="ascii")
    buf, size, _ = run_fast._load(path, None)
    table = run_fast._fast(buf, size)
    assert table is not None
    assert table.score[0] == float(score)
    assert math.copysign(1.0, table.score[0]) == math.copysign(1.0, float(score))  # -0 stays -0
    assert same_as_strict(path)[0] == "ok"


@pytest.mark.parametrize("score", NOT_READ_FAST)
def test_scores_python_or_trec_eval_would_refuse_are_left_to_the_strict_reader(tmp_path: Path, score: str) -> None:
    path = tmp_path / "run"
    path.write_text(f"q Q0 d 1 {score} t\n", encoding="ascii")
    buf, size, _ = run_fast._load(path, None)
    assert run_fast._fast(buf, size) is None
    assert same_as_strict(path)[0] == "error"


def test_a_run_of_several_arrow_blocks_keeps_the_first_seen_query_order(tmp_path: Path) -> None:
    # ~2.6 MB: Arrow reads it in 1 MB blocks, so queries straddle blocks; "q7" comes back later.
    lines = [f"q{q} Q0 doc{q}-{d} {d} {1000 - d}.25 run" for q in (7, 3, 11, 5) for d in range(25_000)]
    lines += [f"q7 Q0 late{d} {d} -{d} run" for d in range(10)]
    path = tmp_path / "run"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    buf, size, _ = run_fast._load(path, None)
    table = run_fast._fast(buf, size)
    assert table is not None
    assert table.query_ids == tuple(read_run(path)) == ("q7", "q3", "q11", "q5")
    assert as_dict(table) == read_run(path).as_dict()


@pytest.mark.slow
def test_query_ids_of_more_than_2_gib_in_all_are_read() -> None:
    # The ids of each run of equal ids are joined into one array: 2.2 GB here, past 32-bit offsets.
    import numpy as np
    import pyarrow as pa

    parsed = run_fast._parse(np.frombuffer(b"q Q0 d 1 1 t\n", dtype=np.uint8))
    assert parsed is not None
    ids = [b"A" * 1100, b"B" * 1100] * 500  # in the type the parser gives the column
    names, query = run_fast._queries(pa.chunked_array([pa.array(ids, parsed["qid"].type)] * 2000))
    assert names == ("A" * 1100, "B" * 1100)
    assert len(query) == 2_000_000
    assert query[:4].tolist() == [0, 1, 0, 1]


def test_truncated_gzip_is_the_strict_readers_error(tmp_path: Path) -> None:
    path = tmp_path / "run.gz"
    path.write_bytes(gzip.compress(b"".join(b"q Q0 d%d 1 1 t\n" % i for i in range(1000)))[:-30])
    kind, message = same_as_strict(path)
    assert kind == "error"
    assert "corrupt or truncated gzip" in str(message)


def test_a_stream_is_read_once(tmp_path: Path) -> None:
    data = b"q Q0 d 1 1 t\nq Q0 e 2 0.5 t\n"
    table = read_run_table(Path("<stdin>"), stream=io.BytesIO(gzip.compress(data)))
    assert as_dict(table) == {"q": {"d": 1.0, "e": 0.5}}
    with pytest.raises(DataError, match=r"^<stdin>:2: .*appears twice"):
        read_run_table(Path("<stdin>"), stream=io.BytesIO(b"q Q0 d 1 1 t\nq Q0 d 2 1 t\n"))


# --- hostile generated runs: the fast reader agrees with the strict one -------------------------

sep = st.sampled_from([" ", " ", " ", "\t", "  ", "\v"])
spoilers = st.sampled_from(["", "", "", "#", "_", "\x00", "\u00a0", "inf", "e", ".", "-", "1e999", "\n", " x"])
scores = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-5, 5).map(str),
    st.sampled_from(["1.0", "1.", ".5", "+2", "-0", "1e5", "1E-5", "0.000001"]),
)


@st.composite
def run_text(draw: st.DrawFn) -> str:
    rows = draw(st.lists(st.tuples(ids, ids, scores), min_size=1, max_size=12))
    lines = [
        draw(sep).join([q, "Q0", d, "1", s, "tag"]) if draw(st.booleans()) else f"{q} Q0 {d} 1 {s} t"
        for q, d, s in rows
    ]
    i = draw(st.integers(0, len(lines) - 1))
    at = draw(st.integers(0, len(lines[i])))
    lines[i] = lines[i][:at] + draw(spoilers) + lines[i][at:]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@SETTINGS
@given(text=run_text())
def test_generated_runs_read_as_the_strict_reader_reads_them(tmp_path: Path, text: str) -> None:
    path = tmp_path / "run"
    path.write_bytes(text.encode("utf-8"))
    same_as_strict(path)


# --- measures from arrays equal pytrec_eval's ---------------------------------------------------

MEASURES = [
    "P@1", "P@3", "P(rel=2)@2", "R@2", "R(rel=2)@5", "Success@1", "Success@3", "nDCG", "nDCG@3",
    "nDCG(judged_only=True)@5", "AP", "AP@3", "AP(rel=2)", "AP(judged_only=True)", "RR", "RR@2",
    "RR(rel=2)@3", "RR(judged_only=True)@2", "NumRet", "NumRet(rel=1)", "NumRet(rel=2)", "NumRel", "NumRel(rel=2)",
]  # fmt: skip


def reference(qrels: dict[str, dict[str, int]], run: Run, names: list[str]) -> dict[str, dict[str, float]]:
    """pytrec_eval alone, as the harness called it before the fast path: every judged query,
    an empty ranking for those the run lacks, the run cut first for RR@k, NaN read as 0."""
    import pytrec_eval

    judged = [q for q in qrels if qrels[q]]
    out: dict[str, dict[str, float]] = {}
    for name in names:
        m = parse_measure(name)
        cut = run.truncated(m.depth) if m.depth is not None else run
        run_dict = {q: {d.doc_id: d.score for d in cut.get(q, ())} for q in judged}
        ev = pytrec_eval.RelevanceEvaluator(
            {q: qrels[q] for q in judged}, {m.trec_name}, relevance_level=m.rel, judged_docs_only_flag=m.judged_only
        )
        scores = ev.evaluate(run_dict)
        out[m.name] = {
            q: (v if math.isfinite(v := float(scores[q][m.trec_name])) else 0.0) if q in scores else 0.0 for q in judged
        }
    return out


docs = st.sampled_from([f"d{i}" for i in range(12)] + ["D1", "d1x", "a", "zz"])
queries = st.sampled_from(["q1", "q2", "q3", "10", "9"])
judgments = st.dictionaries(docs, st.integers(-1, 3), max_size=8).filter(
    lambda d: not d or any(v >= 0 for v in d.values())
)


@SETTINGS
@given(
    # pytrec_eval itself loops forever (nDCG) or crashes on a query judged only with negative
    # labels, and on labels below -1; the reference cannot be asked about those.
    qrels=st.dictionaries(queries, judgments, min_size=1, max_size=4),
    run=st.dictionaries(queries, st.dictionaries(docs, st.sampled_from([0.0, 1.0, 1.5, 2.0, -1.0, 3.25]), min_size=1)),
)
def test_array_measures_equal_pytrec_eval(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> None:
    records = Run({q: [ScoredDoc(d, s) for d, s in ds.items()] for q, ds in run.items()})
    got = evaluate(qrels, records, MEASURES)
    want = reference(qrels, records, MEASURES)
    for name in want:
        if name.startswith("NumRel") and not got.answered:
            # pytrec_eval's NumRel is erratic when no judged query retrieved anything (0 or the
            # count, depending on the other queries); trec_eval -c prints the count, as here.
            assert got.per_query[name] == {
                q: sum(v >= (2 if "rel=2" in name else 1) for v in qrels[q].values()) for q in want[name]
            }
            continue
        assert got.per_query[name] == pytest.approx(want[name], abs=1e-9), name


def test_measures_agree_whatever_the_line_order(tmp_path: Path) -> None:
    lines = [f"q{q} Q0 d{d} 1 {(d * 7 + q) % 5} t" for q in range(4) for d in range(30)]
    qrels = {f"q{q}": {f"d{d}": (d + q) % 4 - 1 for d in range(0, 40, 3)} for q in range(5)}
    shuffled = tmp_path / "shuffled"
    shuffled.write_text("\n".join(lines[1::2] + lines[::2]) + "\n")
    table = read_run_table(shuffled)
    want = reference(qrels, read_run(shuffled), MEASURES)
    got = evaluate(qrels, table, MEASURES)
    for name in want:
        assert got.per_query[name] == pytest.approx(want[name], abs=1e-9), name
    assert (got.judged, got.answered) == (5, 4)


@pytest.mark.parametrize("extra", range(17))
def test_a_mapped_file_reads_its_last_ids_and_scores_without_padding(tmp_path: Path, extra: int) -> None:
    # A regular file is memory-mapped, with no zero bytes after it: the last line's tokens end
    # in the file's final bytes at every offset modulo 8.
    tail_doc = "d" + "x" * extra
    text = f"q1 Q0 d1 1 2.5 t\nq1 Q0 {tail_doc} 2 1.{'7' * (extra % 5 + 1)} t\n"
    path = tmp_path / "run.trec"
    path.write_text(text, encoding="ascii")
    buf, size, _ = run_fast._load(path, None)
    assert len(buf) == size == len(text)  # the mapping itself, not a padded copy
    table = run_fast._fast(buf, size)
    assert table is not None
    assert table.doc_bytes(1) == tail_doc.encode()
    assert as_dict(table) == {"q1": {"d1": 2.5, tail_doc: float(f"1.{'7' * (extra % 5 + 1)}")}}
    assert same_as_strict(path)[0] == "ok"
