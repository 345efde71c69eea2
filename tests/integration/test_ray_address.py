"""`executor: ray` addresses where no cluster answers: one clear line within seconds, not Ray's own
minutes of retries. A module of its own: the executor tests' module keeps a Ray cluster running
in the process, and a process already connected to a cluster uses it whatever the address."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support import assert_one_clear_line, run_cli, write_spec


def _spec(folder: Path) -> Path:
    """A one-system spec over a two-document BEIR folder (the run fails before reading it)."""
    beir = folder / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n')
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n')
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    text = f"name: addr\ndatasets:\n  - {{path: {beir}, split: test}}\nsystems:\n  bm25: {{type: bm25}}\n"
    return write_spec(folder, text)


def test_an_address_nothing_answers_at_is_one_clear_line_at_once(tmp_path: Path) -> None:
    """A `host:port` where nothing listens fails in seconds with the address and the fix (Ray's
    own connection retries would take minutes); an address of the wrong shape says the shapes."""
    import time

    pytest.importorskip("ray", reason="the ray extra (part of dev) is not installed")

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = _spec(tmp_path)
    t0 = time.perf_counter()
    code, _, err = run_cli(
        "run", str(spec), "--executor", "ray", "--ray-address", f"127.0.0.1:{port}", "-o", str(tmp_path / "o"), "-q"
    )
    assert time.perf_counter() - t0 < 30
    assert_one_clear_line(code, err, f"cannot reach the Ray cluster at '127.0.0.1:{port}'", "ray start --head")
    code, _, err = run_cli(
        "run", str(spec), "--executor", "ray", "--ray-address", "head-node", "-o", str(tmp_path / "o2"), "-q"
    )
    assert_one_clear_line(code, err, "Ray address 'head-node' is not host:port", "ray start --head")
    code, _, err = run_cli(
        "run", str(spec), "--executor", "ray", "--ray-address", "http://head:6379", "-o", str(tmp_path / "o3"), "-q"
    )
    assert_one_clear_line(code, err, "Ray address 'http://head:6379' is not host:port", "ray start --head")


def test_a_ray_address_with_the_local_executor_is_refused(tmp_path: Path) -> None:
    code, _, err = run_cli(
        "run", str(_spec(tmp_path)), "--executor", "local", "--ray-address", "auto", "-o", str(tmp_path / "o"), "-q"
    )
    assert_one_clear_line(code, err, "--ray-address is a setting of the Ray executor", "use --executor ray")
    assert not (tmp_path / "o").exists()
