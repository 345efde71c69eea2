"""The shipped experiments reproduce published numbers, and re-runs are byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.fsutil import sha256_file
from tests.support import REPO, read_results, run_cli

pytestmark = pytest.mark.usefixtures("data_root")  # every test runs on the shared data

# Pyserini / Anserini published nDCG@10 with the full judgments (references.md).
PUBLISHED = {
    ("dl19", "bm25"): 0.5058,
    ("dl20", "bm25"): 0.4796,
    ("dl19", "bm25-rm3"): 0.5216,
    ("dl20", "bm25-rm3"): 0.4896,
    ("dl19", "tas-b"): 0.7210,
    ("dl20", "tas-b"): 0.6854,
    ("dl19", "splade-pp-ed"): 0.7308,
    ("dl20", "splade-pp-ed"): 0.7197,
}


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("replay")
    code, stdout, err = run_cli("run", str(REPO / "experiments" / "trec-dl-replay.yaml"), "-o", str(out), "-q")
    assert code == 0, err
    return out, stdout


def test_trec_dl_replay_reproduces_published_ndcg(replay: tuple[Path, str]) -> None:
    out, stdout = replay
    res = read_results(out)
    got = {(c["dataset"], c["system"]): c["aggregate"]["nDCG@10"] for c in res["cells"]}
    for key, published in PUBLISHED.items():
        assert round(got[key], 4) == published, key
    # Anserini's DL19 BM25 R@100 at relevance level 2 (top-1000 there, top-100 here, equal by luck of the pool).
    r100 = {(c["dataset"], c["system"]): c["aggregate"]["R(rel=2)@100"] for c in res["cells"]}
    assert round(r100[("dl19", "bm25")], 4) == 0.4910
    # The printed table shows the same numbers.
    assert "0.7308" in stdout
    assert "0.4796" in stdout
    assert len(res["cells"]) == 12
    assert all(c["judged"] == (43 if c["dataset"] == "dl19" else 54) for c in res["cells"])


def test_results_json_carries_manifest_and_per_query(replay: tuple[Path, str]) -> None:
    out, _ = replay
    res = read_results(out)
    assert res["schema_version"] == 3
    m = res["manifest"]
    assert len(m["spec_hash"]) == 64
    assert m["packages"]["pytrec-eval-terrier"]
    # The machine is stored once per result set; every cell names it.
    ((env_id, env),) = res["environment"].items()
    assert env["cores"] >= 1
    assert env["id"] == env_id
    assert {c["timing"]["environment_id"] for c in res["cells"]} == {env_id}
    assert res["datasets"]["dl19"]["fingerprint"] == res["datasets"]["dl19"]["fingerprint"].lower()
    cell = res["cells"][0]
    assert len(cell["per_query"]["nDCG@10"]) == 43
    assert (out / cell["run_file"]).is_file()
    assert sha256_file(out / cell["run_file"]) == cell["run_sha256"]


def test_scifact_bm25_close_to_lucene_and_byte_identical(tmp_path: Path) -> None:
    spec = str(REPO / "experiments" / "scifact-bm25.yaml")
    code, _, err = run_cli("run", spec, "-o", str(tmp_path / "a"), "-q")
    assert code == 0, err
    code, _, err = run_cli("run", spec, "-o", str(tmp_path / "b"), "-q", "--force")
    assert code == 0, err
    a, b = read_results(tmp_path / "a"), read_results(tmp_path / "b")
    ndcg = a["cells"][0]["aggregate"]["nDCG@10"]
    assert abs(ndcg - 0.6789) <= 0.015  # Anserini beir-v1.0.0-scifact.flat
    assert a["cells"][0]["judged"] == 300
    run_a = (tmp_path / "a" / a["cells"][0]["run_file"]).read_bytes()
    run_b = (tmp_path / "b" / b["cells"][0]["run_file"]).read_bytes()
    assert run_a == run_b
    assert a["cells"][0]["run_sha256"] == b["cells"][0]["run_sha256"]


def test_finished_cells_are_reused_and_spec_changes_invalidate_only_changed_cells(
    tmp_path: Path, data_root: Path
) -> None:
    base = (
        "name: reuse\ndatasets: [{id: beir/scifact/test, queries: {first: 20}}]\nmeasures: [nDCG@10]\n"
        "systems:\n  a: {type: bm25, k1: 0.9}\n  b: {type: bm25, k1: %s}\n"
    )
    spec = tmp_path / "s.yaml"
    out = tmp_path / "out"
    spec.write_text(base % "1.2")
    assert run_cli("run", str(spec), "-o", str(out), "-q")[0] == 0
    spec.write_text(base % "1.5")
    assert run_cli("run", str(spec), "-o", str(out), "-q")[0] == 0
    cells = {c["system"]: c for c in read_results(out)["cells"]}
    assert cells["a"]["resumed"] is True
    assert cells["b"]["resumed"] is False
    run_a = sha256_file(out / cells["a"]["run_file"])

    # A changed latency: section re-times every cell (its stored timings would be stale) and
    # produces the same runs; `mode: off` unquoted is YAML's false and means "off".
    spec.write_text((base % "1.5").replace("systems:", "latency: {mode: off}\nsystems:"))
    assert run_cli("run", str(spec), "-o", str(out), "-q", "--no-report")[0] == 0
    cells = {c["system"]: c for c in read_results(out)["cells"]}
    assert cells["a"]["resumed"] is False
    assert cells["b"]["resumed"] is False
    assert sha256_file(out / cells["a"]["run_file"]) == run_a
    assert cells["a"]["timing"]["config"]["mode"] == "off"
    assert cells["a"]["timing"]["samples_ms"] == []


def test_eval_command_prints_trec_eval_style(data_root: Path) -> None:
    te = data_root / "trec_eval"
    code, out, _ = run_cli("eval", str(te / "qrels.test"), str(te / "results.test"), "-m", "AP", "-m", "P@10", "-q")
    assert code == 0
    lines = [ln.split("\t") for ln in out.strip().splitlines()]
    values = {(m.strip(), q): v for m, q, v in lines}
    expected = {
        (ln.split()[0], ln.split()[1]): ln.split()[2]
        for ln in (te / "out.test.aq").read_text().splitlines()
        if ln.split()[0] in ("map", "P_10")
    }
    for (m, q), v in expected.items():
        assert values[("AP" if m == "map" else "P@10", q)] == v


def test_datasets_command_lists_counts(data_root: Path) -> None:
    code, out, _ = run_cli("datasets", "--data-root", str(data_root))
    assert code == 0
    row = next(ln for ln in out.splitlines() if ln.startswith("beir/scifact/test"))
    assert row.split()[1:] == ["5183", "1109", "300", "339"]


def test_results_of_an_older_schema_are_refused_with_the_fix(replay: tuple[Path, str], tmp_path: Path) -> None:
    """A results.json of schema 1 (untyped timing, environment per cell) is not read: report,
    compare and gate refuse it with one line naming the file, the schema and the fix."""
    out, _ = replay
    old = read_results(out)
    old["schema_version"] = 1
    for cell in old["cells"]:
        cell["cached"] = cell.pop("resumed")
    (tmp_path / "results.json").write_text(json.dumps(old), encoding="utf-8")
    for argv in (["report", str(tmp_path)], ["compare", str(tmp_path)]):
        code, _, err = run_cli(*argv)
        assert code == 2, err
        (line,) = err.strip().splitlines()
        assert str(tmp_path / "results.json") in line
        assert "schema 1" in line
        assert "this harness reads schemas 2 and 3" in line
        assert "re-run the experiment" in line


def test_a_tampered_results_file_is_refused_with_the_key_path(replay: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = replay
    doc = read_results(out) | {"schema_version": 2, "tables": {}}  # inline: no table to read first
    doc["cells"][3]["timing"]["latency"]["p50"] = "fast"
    (tmp_path / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    code, _, err = run_cli("compare", str(tmp_path))
    assert code == 2
    assert "'cells.3.timing.latency.p50'" in err
    assert "Traceback" not in err
