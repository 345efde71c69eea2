"""Environment faults through the command line: a read-only output or cache folder, a file where a
folder is expected (and the reverse), a disk that fills up during a write. Each is exit 2 and one
line naming the path and the fix, with no traceback, no temporary file left behind, nothing the
next run misreads, and a following normal run that succeeds and reuses what was finished.

Faults are simulated (tests/fsfaults.py says why and how): a read-only folder refuses writes at
os.open/os.mkdir/os.replace, a full disk fails os.write after a few bytes."""

from __future__ import annotations

import contextlib
import errno
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from harness.fsutil import sha256_file
from tests.fsfaults import DiskFull, read_only, temp_files
from tests.support import assert_one_clear_line, read_results, run_cli

SPEC = """\
name: faults
datasets: [{id: beir/scifact/test, queries: {first: 10}}]
measures: [nDCG@10, R@100]
latency: {mode: 'off'}
systems:
  bm25: {type: bm25, k1: [0.9, 1.2, 1.5], depth: 100}
"""
SYSTEMS = ["bm25@k1=0.9", "bm25@k1=1.2", "bm25@k1=1.5"]
REPLAY = """\
name: replay
datasets: [msmarco/trec-dl/dl19]
measures: [nDCG@10]
latency: {mode: 'off'}
systems:
  bm25: {type: run, path: "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/bm25-dl19.trec"}
"""
DS = "beir_scifact_test"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _comparable(out: Path) -> dict[str, Any]:
    res = read_results(out)
    return {c["system"]: (c["per_query"], (out / c["run_file"]).read_bytes()) for c in res["cells"]}


def _resumed(out: Path) -> set[str]:
    return {c["system"] for c in read_results(out)["cells"] if c["resumed"]}


def _run(spec: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli("run", str(spec), "-o", str(out), "-q", "--no-report", *extra)


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "faults.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(spec: Path, data_root: Path) -> Path:
    """An uninterrupted run: what every run after a fault must equal."""
    out = spec.parent / "reference"
    code, _, err = _run(spec, out)
    assert code == 0, err
    return out


def _no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a dataset is the first work a run does: make it impossible."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("work started before the destinations were checked")

    monkeypatch.setattr("harness.runner.load_dataset", refuse)


def test_read_only_output_folder_fails_before_any_work(
    spec: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = _files(out)
    with monkeypatch.context() as m:
        read_only(m, out)
        _no_work(m)
        code, _, err = _run(spec, out, "--force")
    assert_one_clear_line(code, err)
    assert err.strip() == (
        f"error: {out}: cannot write the output folder: the file system is read-only "
        f"(make {out} writable, or choose another folder with -o or the spec's output:)"
    )
    assert _files(out) == before
    # Writable again: the finished cells are reused, the results are those of the reference.
    code, _, err = _run(spec, out)
    assert code == 0, err
    assert _resumed(out) == set(SYSTEMS)
    assert _comparable(out) == _comparable(reference)


def test_an_output_folder_that_cannot_be_created(spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    with monkeypatch.context() as m:
        read_only(m, parent, errno.EACCES)
        _no_work(m)
        code, _, err = _run(spec, parent / "out")
    assert_one_clear_line(
        code, err, f"{parent / 'out'}: cannot write the output folder: permission denied", f"make {parent}"
    )
    assert list(parent.iterdir()) == []


@pytest.mark.parametrize(
    ("blocker", "said"),
    [
        ("", "it is a file, and a folder is expected here"),
        ("results.json", "it is a folder, and a file is expected here"),
        ("per_query.parquet", "it is a folder, and a file is expected here"),
        ("report.html", "it is a folder, and a file is expected here"),
        ("runs", "it is a file, and a folder is expected here"),
    ],
)
def test_a_path_of_the_wrong_kind_in_the_output_fails_before_any_work(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocker: str, said: str
) -> None:
    out = tmp_path / "out"
    target = out / blocker if blocker else out
    if said.startswith("it is a file"):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("mine")
    else:
        target.mkdir(parents=True)
    with monkeypatch.context() as m:
        _no_work(m)
        code, _, err = _run(spec, out)
    assert_one_clear_line(code, err, f"error: {target}: cannot write the output folder: {said}")
    assert temp_files(tmp_path) == []
    if target.is_file():
        assert target.read_text() == "mine"


@pytest.mark.parametrize(
    ("failing", "resumed_next"),
    [
        (f"runs/{DS}/bm25@k1=1.2.trec.gz", {"bm25@k1=0.9"}),  # the second cell's run file
        (f"cells/{DS}/bm25@k1=1.2.json", {"bm25@k1=0.9"}),  # its record, after its run file
        ("per_query.parquet", set(SYSTEMS)),  # every cell finished, then the per-query table
        ("results.json", set(SYSTEMS)),  # then the results naming it
    ],
)
def test_disk_full_during_a_write_leaves_nothing_partial_and_the_next_run_resumes(
    spec: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, resumed_next: set[str]
) -> None:
    out = tmp_path / "out"
    target = out / failing
    with monkeypatch.context() as m:
        full = DiskFull(m, lambda p: p.parent == target.parent and p.name.startswith(f".{target.name}."))
        code, _, err = _run(spec, out)
    assert full.hits, "the fault was never reached"
    assert_one_clear_line(
        code, err, f"{target}: cannot write the output folder: no space left on the device", "free space"
    )
    assert temp_files(out) == []
    # Every record left points at a complete run file; none points at the failed cell's.
    for record in out.glob("cells/*/*.json"):
        rec = json.loads(record.read_text())
        assert sha256_file(out / rec["run_file"]) == rec["run_sha256"]
    if failing not in ("results.json", "per_query.parquet"):
        assert not (out / f"cells/{DS}/bm25@k1=1.2.json").exists()
    if failing != "results.json":
        assert not (out / "results.json").exists()
    code, _, err = _run(spec, out)
    assert code == 0, err
    assert _resumed(out) == resumed_next
    assert _comparable(out) == _comparable(reference)


RERANK = """\
name: rerank
datasets: [{id: msmarco/trec-dl/dl19-full, name: dl19, queries: {first: 2}}]
measures: [nDCG@10]
latency: {mode: 'off'}
systems:
  bm25: {type: run, path: "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/bm25-{dataset}.trec", depth: 5}
  ce: [{type: use, system: bm25, depth: 5}, {type: rerank, top: 5}]
"""


def _pairs_scored(out: Path) -> int:
    cells = {c["system"]: c for c in read_results(out)["cells"]}
    return int(cells["ce"]["timing"]["stages"][1]["costs"]["pairs_scored"])


def _cache_content(cache: Path) -> dict[str, Any]:
    """The cache's files, with the pair-score store as its rows: an open connection left by an
    earlier run in this process may checkpoint the file's pages at any time, rows unchanged."""
    content: dict[str, Any] = {k: v for k, v in _files(cache).items() if ".sqlite3" not in k}
    for db in cache.glob("pair-scores/*.sqlite3"):
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            content[db.name] = sorted(conn.execute("SELECT * FROM scores"))
    return content


def test_a_read_only_cache_fails_before_any_work_and_stays_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    cache = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    rerank = tmp_path / "rerank.yaml"
    rerank.write_text(RERANK, encoding="utf-8")
    code, _, err = _run(rerank, tmp_path / "warm")
    assert code == 0, err
    assert _pairs_scored(tmp_path / "warm") == 10
    warm = _cache_content(cache)
    with monkeypatch.context() as m:
        read_only(m, cache)
        _no_work(m)
        code, _, err = _run(rerank, tmp_path / "out")
        assert_one_clear_line(
            code,
            err,
            f"error: {cache}: cannot write the artefact cache: the file system is read-only",
            "set HARNESS_CACHE_DIR to a writable folder",
        )
    assert _cache_content(cache) == warm
    assert temp_files(tmp_path) == []
    # Writable again: the warm cache is intact and reused (no pair scored twice).
    code, _, err = _run(rerank, tmp_path / "out")
    assert code == 0, err
    assert _pairs_scored(tmp_path / "out") == 0
    assert _comparable(tmp_path / "out") == _comparable(tmp_path / "warm")


def test_a_read_only_cache_does_not_stop_a_run_that_never_writes_it(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    replay = tmp_path / "replay.yaml"
    replay.write_text(REPLAY, encoding="utf-8")
    with monkeypatch.context() as m:
        read_only(m, cache)
        code, _, err = _run(replay, tmp_path / "replay")  # a replayed run keeps no artefact
        assert code == 0, err
        # BM25 keeps its index in the cache: refused before any work, naming the fix
        code, _, err = _run(spec, tmp_path / "bm25")
        assert_one_clear_line(code, err, "cannot write the artefact cache", "set HARNESS_CACHE_DIR")
    assert list(cache.iterdir()) == []


def _gate_inputs(reference: Path, tmp_path: Path) -> Path:
    snapshot = tmp_path / "snapshot.json"
    code, _, err = run_cli("snapshot", "save", str(reference), "-o", str(snapshot))
    assert code == 0, err
    return snapshot


@pytest.mark.parametrize("option", ["--junit", "--markdown", "--json"])
def test_gate_outputs_that_are_folders_write_nothing(reference: Path, tmp_path: Path, option: str) -> None:
    snapshot = _gate_inputs(reference, tmp_path)
    folder = tmp_path / "reports"
    folder.mkdir()
    others = [o for o in ("--junit", "--markdown", "--json") if o != option]
    args = ["gate", str(reference), "--snapshot", str(snapshot), option, str(folder)]
    for o in others:
        args += [o, str(tmp_path / f"ok{o}.out")]
    before = _files(tmp_path)
    code, out, err = run_cli(*args)
    assert_one_clear_line(code, err, f"error: {folder}: cannot write: it is a folder, and a file is expected here")
    assert out == ""  # refused before the gate ran
    assert _files(tmp_path) == before  # neither the folder's option nor the others wrote anything


def test_gate_output_below_a_file_and_snapshot_to_a_folder(reference: Path, tmp_path: Path) -> None:
    snapshot = _gate_inputs(reference, tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    code, _, err = run_cli("gate", str(reference), "--snapshot", str(snapshot), "--json", str(blocker / "g.json"))
    assert_one_clear_line(
        code, err, f"{blocker / 'g.json'}: cannot write: a part of the path is a file", f"the file {blocker}"
    )
    code, _, err = run_cli("snapshot", "save", str(reference), "-o", str(tmp_path))
    assert_one_clear_line(code, err, f"error: {tmp_path}: cannot write: it is a folder")
    assert blocker.read_text() == "mine"


def test_gate_disk_full_writes_none_of_its_files(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = _gate_inputs(reference, tmp_path)
    junit, md = tmp_path / "gate.xml", tmp_path / "gate.md"
    with monkeypatch.context() as m:
        DiskFull(m, lambda p: p.name.startswith(".gate.md."))
        code, _, err = run_cli(
            "gate", str(reference), "--snapshot", str(snapshot), "--junit", str(junit), "--markdown", str(md)
        )
    assert_one_clear_line(code, err, f"{md}: cannot write: no space left on the device")
    assert not junit.exists()
    assert not md.exists()
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("-o", "it is a folder, and a file is expected here"),
        ("--markdown", "it is a folder, and a file is expected here"),
        ("--plots", "a part of the path is a file"),
    ],
)
def test_report_to_a_path_of_the_wrong_kind_writes_nothing(
    reference: Path, tmp_path: Path, where: str, said: str
) -> None:
    pytest.importorskip("matplotlib")
    dest = tmp_path / "somedir"
    if where == "--plots":
        dest.write_text("mine")
    else:
        dest.mkdir()
    args = {"-o": str(tmp_path / "r.html"), "--markdown": str(tmp_path / "r.md"), "--plots": str(tmp_path / "p")}
    args[where] = str(dest)
    code, _, err = run_cli("report", str(reference), *[x for kv in args.items() for x in kv])
    assert_one_clear_line(code, err, said)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somedir"]


def test_report_disk_full_keeps_the_previous_report_whole(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    html = tmp_path / "rep" / "report.html"
    code, _, err = run_cli("report", str(reference), "-o", str(html))
    assert code == 0, err
    before = _files(tmp_path)
    with monkeypatch.context() as m:
        full = DiskFull(m, lambda p: p.name.startswith(".report.md."))
        code, _, err = run_cli("report", str(reference), "-o", str(html), "-m", "R@100")
    assert full.hits
    assert_one_clear_line(code, err, f"{html.with_suffix('.md')}: cannot write: no space left on the device")
    assert _files(tmp_path) == before  # no plot, no HTML of the new report replaced the old
    assert temp_files(tmp_path) == []


def test_read_only_report_folder(reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    with monkeypatch.context() as m:
        read_only(m, tmp_path)
        code, _, err = run_cli("report", str(reference), "-o", str(tmp_path / "r.html"))
    assert_one_clear_line(
        code, err, f"{tmp_path / 'r.html'}: cannot write: the file system is read-only", f"make {tmp_path}"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_environment_oserror_anywhere_is_one_line(reference: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault no command turned into a HarnessError still ends in one line and exit 2."""

    def denied(*_: object, **__: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(reference / "results.json"))

    monkeypatch.setattr("harness.results.ResultSet.load", denied)
    code, _, err = run_cli("report", str(reference))
    assert_one_clear_line(code, err, f"error: {reference / 'results.json'}: Permission denied (check the path")
