"""Readers on non-seekable input: `harness eval` with `-` (stdin) or `/dev/stdin` gives exactly
what it gives on the file, plain or gzip, through a real subprocess and pipe (a pipe cannot be
re-opened, so the gzip sniff must not read the input twice)."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data.trec import read_qrels, read_run
from harness.errors import DataError
from tests.support import REPO, subprocess_env

MEASURES = ["-m", "nDCG@10", "-m", "AP", "-m", "NumRet", "-q"]


def _harness(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "eval", *args, *MEASURES],
        input=stdin,
        capture_output=True,
        env=subprocess_env(),
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def dl19(data_root: Path) -> tuple[Path, Path, bytes]:
    """BEIR qrels, a real run (65 KB, far beyond the 4,096 bytes a second open used to lose),
    and what `harness eval` prints for the two files."""
    qrels = data_root / "msmarco" / "trec-dl" / "qrels" / "dl19.tsv"
    run = data_root / "msmarco" / "trec-dl" / "runs" / "bm25-dl19.trec"
    done = _harness(str(qrels), str(run))
    assert done.returncode == 0, done.stderr
    return qrels, run, done.stdout


@pytest.mark.parametrize("arg", ["-", "/dev/stdin"])
@pytest.mark.parametrize("packed", [False, True])
def test_run_through_a_pipe_scores_like_the_file(dl19: tuple[Path, Path, bytes], arg: str, packed: bool) -> None:
    qrels, run, expected = dl19
    data = run.read_bytes()
    done = _harness(str(qrels), arg, stdin=gzip.compress(data) if packed else data)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    assert len(data) > 4096


def test_qrels_through_a_pipe_scores_like_the_file(dl19: tuple[Path, Path, bytes]) -> None:
    qrels, run, expected = dl19
    done = _harness("-", str(run), stdin=qrels.read_bytes())
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected


@pytest.mark.parametrize(("qrels", "run"), [("-", "-"), ("-", "/dev/stdin")])
def test_both_inputs_from_stdin_is_refused(qrels: str, run: str) -> None:
    done = _harness(qrels, run, stdin=b"q 0 d 1\n")
    assert done.returncode == 2
    err = done.stderr.decode()
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "<stdin>" in err
    assert "same stream" in err


def test_bad_line_on_stdin_names_stdin_and_line(dl19: tuple[Path, Path, bytes]) -> None:
    qrels, _, _ = dl19
    done = _harness(str(qrels), "-", stdin=b"19335 Q0 d1 1 1.5 t\n19335 Q0 d2 2 nan t\n")
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        "error: <stdin>:2: score 'nan' is not finite (NaN and infinite scores cannot be ranked)"
    )


class _Trickle(io.RawIOBase):
    """A pipe at its slowest: one byte per read, never seekable."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        if not self._data:
            return 0
        buffer[0] = self._data[0]
        self._data = self._data[1:]
        return 1


@pytest.mark.parametrize("packed", [False, True])
def test_readers_on_a_one_byte_at_a_time_stream(trec_eval_dir: Path, packed: bool) -> None:
    for name, read in (("results.test", read_run), ("qrels.test", read_qrels)):
        data = (trec_eval_dir / name).read_bytes()
        stream = _Trickle(gzip.compress(data) if packed else data)
        assert read(Path("<stdin>"), stream=stream) == read(trec_eval_dir / name)


def test_truncated_gzip_stream_is_a_data_error(trec_eval_dir: Path) -> None:
    data = gzip.compress((trec_eval_dir / "results.test").read_bytes())
    with pytest.raises(DataError, match=r"^<stdin>:\d+: corrupt or truncated gzip run"):
        read_run(Path("<stdin>"), stream=io.BytesIO(data[: len(data) // 2]))
