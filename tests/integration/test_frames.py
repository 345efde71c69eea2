"""Results as DataFrames and files: `harness.load_results` on a real results folder (30 DL19
queries, replayed reference runs, per-query timing), the per-query table in Parquet beside a lean
results.json (read back identically, refused when it changed), `harness export` to Parquet and
CSV, and the report and the gate giving the same output from either layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import harness
from harness.cli import main
from harness.results import ResultSet
from tests.support import assert_one_clear_line, run_cli, subprocess_env, write_spec

pd = pytest.importorskip("pandas")

SPEC = (
    "name: frames\n"
    "datasets:\n  - {id: msmarco/trec-dl/dl19-full, name: dl19, queries: {first: 30}}\n"
    "measures: [nDCG@10, AP(rel=2), R@100]\n"
    "latency: {warmup: 2}\n"
    "systems:\n"
    '  bm25: {type: run, path: "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/bm25-{dataset}.trec", depth: [10, 100]}\n'
    '  tas-b: {type: run, path: "${HARNESS_DATA_ROOT}/msmarco/trec-dl/runs/tas-b-{dataset}.trec"}\n'
)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory, data_root: Path, module_cache: None) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    spec = write_spec(folder, SPEC)
    argv = ["run", str(spec), "-o", str(folder / "out"), "-q", "--no-report", "--data-root", str(data_root)]
    assert main(argv) == 0
    return folder / "out"


def test_the_per_query_data_is_in_parquet_beside_a_lean_results_json(out: Path) -> None:
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == 3
    assert set(doc["tables"]) == {"per_query.parquet"}
    for cell in doc["cells"]:
        assert cell["per_query"] == {}
        assert cell["timing"]["samples_ms"] == []
        assert cell["timing"]["query_ids"] == []
    rs = ResultSet.load(out)
    assert len(rs.cells) == 3
    for cell in rs.cells:
        assert set(cell.per_query) == {"nDCG@10", "AP(rel=2)", "R@100"}
        assert len(cell.per_query["nDCG@10"]) == cell.judged
        assert cell.timing is not None
        assert len(cell.timing.query_ids) == len(cell.timing.samples_ms) == len(cell.timing.cpu_samples_ms) == 30
    # Saved again and read back: the very same record.
    copy = out.parent / "copy"
    copy.mkdir(exist_ok=True)
    rs.save(copy)
    assert ResultSet.load(copy) == rs


def test_the_frames_hold_the_values_the_results_hold(out: Path) -> None:
    rs = ResultSet.load(out)
    r = harness.load_results(out)
    agg = r.aggregate()
    assert list(agg.columns) == ["dataset", "system", "base", "measure", "value", "judged", "answered"]
    assert len(agg) == 3 * 3
    assert agg["system"].dtype == "category"
    for c in rs.cells:
        for m, v in c.aggregate.items():
            row = agg[(agg.system == c.system) & (agg.measure == m)]
            assert row["value"].item() == v
    assert set(agg[agg.system.str.startswith("bm25")]["base"]) == {"bm25"}
    pq = r.per_query()
    assert len(pq) == sum(len(v) for c in rs.cells for v in c.per_query.values())
    # The mean over the judged queries is the aggregate trec_eval reports.
    means = pq.groupby(["system", "measure"], observed=True)["value"].mean()
    for c in rs.cells:
        for m, v in c.aggregate.items():
            assert means[(c.system, m)] == pytest.approx(v, abs=1e-12)
    lat = r.latency()
    whole = lat[(lat.stage == -1) & (lat.step == "") & (lat.clock == "wall")]
    for c in rs.cells:
        assert c.timing is not None
        samples = whole[whole.system == c.system]["ms"].to_numpy()
        assert list(whole[whole.system == c.system]["query_id"]) == list(c.timing.query_ids)
        assert np.percentile(samples, 50) == pytest.approx(c.timing.latency.p50, abs=1e-3)
    costs = r.costs()
    assert set(costs["cost"]) >= {"prepare_s", "search_s", "cached"}
    comparisons = r.comparisons()
    assert set(comparisons["system"]) == {"bm25@depth=100", "tas-b"}
    assert {"delta", "delta_ci_low", "delta_ci_high", "t_p", "t_p_adjusted", "effect_size_cohens_d"} <= set(
        comparisons.columns
    )
    stored = {(x["system"], x["measure"]): x["delta"] for x in rs.comparisons["results"]}
    assert {(s, m): d for s, m, d in comparisons[["system", "measure", "delta"]].itertuples(index=False)} == stored


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_every_table(out: Path, tmp_path: Path, fmt: str) -> None:
    code, stdout, _ = run_cli("export", str(out), "--format", fmt, "-o", str(tmp_path / "x"))
    assert code == 0
    r = harness.load_results(out)
    for name in ("aggregate", "per_query", "latency", "costs", "comparisons"):
        path = tmp_path / "x" / f"{name}.{fmt}"
        assert f"{path}: " in stdout
        back = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, keep_default_na=False)
        mine = getattr(r, name)()
        assert len(back) == len(mine)
        assert list(back.columns) == list(mine.columns)
        for col in ("value", "ms"):
            if col in mine and mine[col].notna().all():
                np.testing.assert_allclose(back[col].to_numpy(float), mine[col].to_numpy(float), rtol=0, atol=1e-15)
    code, _, err = run_cli("export", str(out), "--format", "xlsx", "-o", str(tmp_path / "y"))
    assert_one_clear_line(code, err, "--format 'xlsx' is not an export format", "use --format parquet, csv or mteb")


def test_report_and_gate_give_the_same_output_from_parquet_and_from_inline_json(out: Path, tmp_path: Path) -> None:
    pytest.importorskip("jinja2", reason="the report needs the plots extra")
    inline = tmp_path / "inline"
    inline.mkdir()
    doc = ResultSet.load(out).to_dict()
    (inline / "results.json").write_text(json.dumps({**doc, "schema_version": 2, "tables": {}}), encoding="utf-8")
    lean = tmp_path / "lean"
    shutil.copytree(out, lean)
    snapshot = tmp_path / "snap.json"
    assert main(["snapshot", "save", str(lean), "-o", str(snapshot)]) == 0
    outputs = []
    for folder in (lean, inline):
        assert main(["report", str(folder)]) == 0
        code, stdout, _ = run_cli("gate", str(folder), "--snapshot", str(snapshot))
        assert code == 0
        outputs.append(((folder / "report.md").read_text(encoding="utf-8"), stdout.replace(str(folder), "DIR")))
    assert outputs[0] == outputs[1]
    assert "tas-b" in outputs[0][0]


def test_a_per_query_table_that_changed_or_is_missing_is_refused(out: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    table = bad / "per_query.parquet"
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0xFF
    table.write_bytes(bytes(data))
    code, _, err = run_cli("report", str(bad))
    assert_one_clear_line(code, err, str(table), "not the one results.json was written with", "harness run SPEC")
    table.unlink()
    code, _, err = run_cli("compare", str(bad))
    assert_one_clear_line(code, err, str(table), "cannot read the per-query table")
    doc = json.loads((bad / "results.json").read_text(encoding="utf-8"))
    del doc["tables"]
    (bad / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    code, _, err = run_cli("gate", str(bad), "--snapshot", str(bad / "none.json"))
    assert_one_clear_line(code, err, "names no per_query.parquet")


def test_the_example_draws_a_per_query_scatter(out: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import subprocess
    import sys

    png = tmp_path / "scatter.png"
    example = Path(__file__).resolve().parents[2] / "examples" / "per_query_scatter.py"
    argv = [sys.executable, str(example), str(out), "bm25@depth=100", "tas-b", "--measure", "nDCG@10", "-o", str(png)]
    done = subprocess.run(argv, env=subprocess_env(), capture_output=True, text=True, check=True)
    assert done.stdout.startswith(f"{png}: 30 queries, tas-b better on ")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wrong = subprocess.run([*argv[:4], "tasb", *argv[5:]], env=subprocess_env(), capture_output=True, text=True)
    assert wrong.returncode == 1
    assert (
        wrong.stderr.strip().splitlines()[-1]
        == f"no system 'tasb' in {out}; these are: bm25@depth=10, bm25@depth=100, tas-b"
    )


def _forged(out: Path, folder: Path, edit: Any) -> Path:
    """A copy of `out` whose per-query table was rewritten by `edit(table_dict)` and whose
    results.json names the new table's sha256 (a forgery the checksum alone would let through)."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.copytree(out, folder)
    table = pq.read_table(folder / "per_query.parquet")
    rows = table.to_pylist()
    edit(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), folder / "per_query.parquet")
    doc = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    doc["tables"]["per_query.parquet"] = hashlib.sha256((folder / "per_query.parquet").read_bytes()).hexdigest()
    (folder / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("name", "edit", "said"),
    [
        ("short", lambda rows: rows[0]["values"].pop(), "ids (30 distinct) for"),
        ("cell", lambda rows: rows[0].update(cell=7), "cell 7 of 3"),
        ("nan", lambda rows: rows[0]["values"].__setitem__(0, float("nan")), "not a finite number"),
        ("dup", lambda rows: rows[0]["ids"].__setitem__(1, rows[0]["ids"][0]), "distinct"),
    ],
)
def test_a_forged_per_query_table_is_refused_by_its_rows(
    out: Path, tmp_path: Path, name: str, edit: Any, said: str
) -> None:
    bad = _forged(out, tmp_path / name, edit)
    for argv in (["report", str(bad)], ["export", str(bad), "-o", str(tmp_path / "x")]):
        code, _, err = run_cli(*argv)
        assert_one_clear_line(code, err, str(bad / "per_query.parquet"), "row 0 is malformed", said)


def test_a_hand_edited_aggregate_is_refused(out: Path, tmp_path: Path) -> None:
    """An aggregate that is not the mean of its per-query values is refused on load, with the key."""
    bad = tmp_path / "agg"
    shutil.copytree(out, bad)
    doc = json.loads((bad / "results.json").read_text(encoding="utf-8"))
    doc["cells"][0]["aggregate"]["nDCG@10"] = 0.99
    (bad / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    code, _, err = run_cli("gate", str(bad), "--snapshot", str(bad / "none.json"))
    assert_one_clear_line(code, err, "'cells.0'", "aggregate nDCG@10 0.99 is not the mean")
