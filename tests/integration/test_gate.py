"""The regression gate on regressions built from real runs.

- SciFact BM25 (first 50 test queries, run by the harness): relevant documents removed from k
  queries; the gate must fail exactly for the measures whose aggregate dropped by more than
  max_drop (the drops come from pytrec_eval, not from the gate).
- DL19 TAS-B degraded towards BM25 (k queries' rankings replaced by BM25's).
- An unchanged re-run passes; a small random perturbation within the margin passes.
- Anything missing, a changed dataset, bad snapshots and bad rules: failures or exit code 2.
- A system marked exact fails on any changed run file, even with equal per-query values.
- Snapshots of the former format (`harness-baseline`) load; other files are refused by name.
- The CI gate (experiments/ci-gate.yaml against experiments/snapshots/ci-gate.json) passes on
  a fresh run and fails on a doctored results file, naming each failed check in JUnit XML.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from harness.data.trec import read_qrels, read_run
from harness.errors import GateError
from harness.evaluation.measures import evaluate
from harness.gate import build_snapshot, format_junit, format_markdown, load_snapshot, merge_rules, run_gate
from harness.records import Run
from harness.results import Cell, ResultSet, SystemInfo
from harness.sections import GateRules
from harness.timing import Timing, latency_stats
from tests.support import REPO, read_results, run_cli

CI_SPEC = REPO / "experiments" / "ci-gate.yaml"
CI_SNAPSHOT = REPO / "experiments" / "snapshots" / "ci-gate.json"
NO_LATENCY = {"max_growth": 1e9}  # wall-clock noise is tested separately, with doctored timings


def _run(spec: Path, out: Path, data_root: Path, tmp: Path) -> ResultSet:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_DATA_ROOT", str(data_root))
        mp.setenv("HARNESS_CACHE_DIR", str(tmp / "cache"))
        code, _stdout, err = run_cli("run", str(spec), "-o", str(out), "-q", "--data-root", str(data_root))
    assert code == 0, err
    return ResultSet.load(out)


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A fresh run of the CI gate's experiment (exactly what .ci/run runs)."""
    tmp = tmp_path_factory.mktemp("ci-gate")
    _run(CI_SPEC, tmp / "out", data_root, tmp)
    return tmp / "out"


@pytest.fixture(scope="module")
def dl19(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """BM25 and TAS-B DL19 reference runs replayed and scored with the full judgments."""
    tmp = tmp_path_factory.mktemp("dl19")
    spec = tmp / "dl19.yaml"
    runs = data_root / "msmarco" / "trec-dl" / "runs"
    spec.write_text(
        "name: dl19-gate\n"
        "datasets: [{id: msmarco/trec-dl/dl19-full, name: dl19}]\n"
        "measures: [nDCG@10, AP(rel=2), R(rel=2)@100]\n"
        "latency: {mode: 'off'}\n"
        "systems:\n"
        f"  bm25: {{type: run, path: '{runs}/bm25-dl19.trec'}}\n"
        f"  tas-b: {{type: run, path: '{runs}/tas-b-dl19.trec'}}\n",
        encoding="utf-8",
    )
    _run(spec, tmp / "out", data_root, tmp)
    return tmp / "out"


def _snapshot_file(results: ResultSet, folder: Path) -> Path:
    path = folder / "snapshot.json"
    path.write_text(json.dumps(build_snapshot(results)), encoding="utf-8")
    return path


def _typed(changes: dict[str, Any]) -> dict[str, Any]:
    if isinstance(changes.get("timing"), dict):  # a doctored timing record, as stored in results.json
        changes["timing"] = Timing.from_dict(changes["timing"]) if changes["timing"] else None
    return changes


def _with_cell(results: ResultSet, dataset: str, system: str, **changes: Any) -> ResultSet:
    cells = [
        c.model_copy(update=_typed(changes)) if (c.dataset, c.system) == (dataset, system) else c for c in results.cells
    ]
    return results.model_copy(update={"cells": cells})


def _each_cell(results: ResultSet, **changes: Any) -> ResultSet:
    return results.model_copy(update={"cells": [c.model_copy(update=_typed(dict(changes))) for c in results.cells]})


def _timing(cell: Cell | None) -> dict[str, Any]:
    assert cell is not None
    assert cell.timing is not None
    return cell.timing.to_dict()


def latency_percentiles(timing: Timing | None, clock: str = "wall") -> dict[str, float] | None:
    stats = timing.stats(clock) if timing is not None else None
    if stats is None or stats.p50 is None or stats.p95 is None:
        return None
    return {"p50": stats.p50, "p95": stats.p95}


def _rescored(
    results: ResultSet, dataset: str, system: str, run: Run, qrels: Mapping[str, Mapping[str, int]]
) -> ResultSet:
    """The results with one cell re-evaluated (pytrec_eval) on a doctored run."""
    cell = results.cell(dataset, system)
    assert cell is not None
    qids = list(cell.per_query[results.measures[0]])
    ev = evaluate({q: dict(qrels[q]) for q in qids}, run, results.measures)
    digest = hashlib.sha256(json.dumps(run.as_dict(), sort_keys=True).encode()).hexdigest()
    return _with_cell(
        results, dataset, system,
        aggregate=dict(ev.aggregate), per_query={m: dict(v) for m, v in ev.per_query.items()}, run_sha256=digest,
    )  # fmt: skip


def _failed(report: Any) -> set[tuple[str, str, str, str]]:
    return {(c.kind, c.dataset, c.system, c.measure) for c in report.failures}


def _holm(p: list[float]) -> list[float]:
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


# ------------------------------------------------------------------ SciFact: relevant documents removed


@pytest.mark.parametrize("k", [0, 1, 3, 10])
def test_scifact_relevant_removed_fails_exactly_when_the_drop_exceeds_max_drop(
    ci_run: Path, data_root: Path, tmp_path: Path, k: int
) -> None:
    results = ResultSet.load(ci_run)
    snapshot = load_snapshot(_snapshot_file(results, tmp_path))
    qrels = read_qrels(data_root / "beir" / "scifact" / "qrels" / "test.tsv")
    cell = results.cell("scifact-50", "bm25")
    assert cell is not None
    run = read_run(ci_run / cell.run_file)
    hit = [q for q, v in cell.per_query["nDCG@10"].items() if v > 0][:k]
    doctored = Run(
        {q: [d for d in docs if not (q in hit and qrels[q].get(d.doc_id, 0) > 0)] for q, docs in run.items()}
    )
    new = _rescored(results, "scifact-50", "bm25", doctored, qrels)
    new_cell = new.cell("scifact-50", "bm25")
    assert new_cell is not None
    drops = {m: cell.aggregate[m] - new_cell.aggregate[m] for m in results.measures}
    expected = {("effectiveness", "scifact-50", "bm25", m) for m, d in drops.items() if d > 0.01}
    if k == 0:
        assert expected == set()
    if k == 10:
        assert ("effectiveness", "scifact-50", "bm25", "nDCG@10") in expected
        assert drops["nDCG@10"] > 0.1  # ten of fifty queries lose every relevant document

    rules = GateRules(max_drop=0.01, margin=None, latency=NO_LATENCY)  # type: ignore[arg-type]
    report = run_gate(new, snapshot, rules)
    assert _failed(report) == expected
    assert report.passed is (not expected)

    # marked exact, any new run hash fails: for k=0 the values match, and the message says so
    exact = run_gate(new, snapshot, GateRules(max_drop=None, margin=None, exact=["bm25"], latency=NO_LATENCY))  # type: ignore[arg-type]
    assert {c for c in _failed(exact) if c[0] == "exact"} == {("exact", "scifact-50", "bm25", "")}
    (row,) = [c for c in exact.failures if c.kind == "exact"]
    assert "run file changed (sha256 " in row.message
    assert row.message.endswith("per-query values match") is (k == 0)


def test_scifact_non_inferiority_p_values_are_scipy_with_holm(ci_run: Path, data_root: Path, tmp_path: Path) -> None:
    results = ResultSet.load(ci_run)
    snapshot = load_snapshot(_snapshot_file(results, tmp_path))
    qrels = read_qrels(data_root / "beir" / "scifact" / "qrels" / "test.tsv")
    cell = results.cell("scifact-50", "bm25")
    assert cell is not None
    run = read_run(ci_run / cell.run_file)
    hit = [q for q, v in cell.per_query["nDCG@10"].items() if v > 0][:4]
    doctored = Run(
        {q: [d for d in docs if not (q in hit and qrels[q].get(d.doc_id, 0) > 0)] for q, docs in run.items()}
    )
    new = _rescored(results, "scifact-50", "bm25", doctored, qrels)
    rules = GateRules(max_drop=None, margin=0.01, latency=NO_LATENCY)  # type: ignore[arg-type]
    report = run_gate(new, snapshot, rules)
    eff = [c for c in report.checks if c.kind == "effectiveness"]
    assert len(eff) == 2 * 2 * 4  # datasets x systems x measures, one test each
    raw = []
    for c in eff:
        before = results.cell(c.dataset, c.system)
        after = new.cell(c.dataset, c.system)
        assert before is not None
        assert after is not None
        qids = sorted(before.per_query[c.measure])
        x = np.array([after.per_query[c.measure][q] for q in qids])
        y = np.array([before.per_query[c.measure][q] for q in qids])
        if np.all(x == y):
            raw.append(0.0)  # every query equal: "new >= snapshot - margin" holds with certainty
        else:
            raw.append(float(sps.ttest_rel(x + 0.01, y, alternative="greater").pvalue))
    for c, p in zip(eff, _holm(raw), strict=True):
        assert c.p == pytest.approx(p, rel=1e-9, abs=1e-15)
        assert (c.verdict == "FAIL") is (p >= 0.05)
    nd = next(c for c in eff if (c.dataset, c.system, c.measure) == ("scifact-50", "bm25", "nDCG@10"))
    assert nd.verdict == "FAIL"  # four of fifty queries lose ~0.6 each: mean drop ~0.05 > margin
    assert "non-inferiority (margin 0.01)" in nd.message


# ------------------------------------------------------------------ DL19: TAS-B degraded towards BM25


@pytest.mark.parametrize("k", [0, 1, 4, 15])
def test_dl19_tasb_degraded_towards_bm25(dl19: Path, data_root: Path, tmp_path: Path, k: int) -> None:
    results = ResultSet.load(dl19)
    snapshot = load_snapshot(_snapshot_file(results, tmp_path))
    qrels = read_qrels(data_root / "msmarco" / "trec-dl" / "qrels" / "dl19-full.tsv")
    runs = data_root / "msmarco" / "trec-dl" / "runs"
    tasb, bm25 = read_run(runs / "tas-b-dl19.trec"), read_run(runs / "bm25-dl19.trec")
    cell = results.cell("dl19", "tas-b")
    assert cell is not None
    swapped = list(cell.per_query["nDCG@10"])[:k]
    doctored = Run({q: (bm25.get(q, ()) if q in swapped else tasb[q]) for q in tasb})
    new = _rescored(results, "dl19", "tas-b", doctored, qrels)
    after = new.cell("dl19", "tas-b")
    assert after is not None
    drop = cell.aggregate["nDCG@10"] - after.aggregate["nDCG@10"]
    rules = merge_rules({"max_drop": {"default": None, "nDCG@10": 0.02}, "margin": None, "latency": NO_LATENCY})
    report = run_gate(new, snapshot, rules)
    should_fail = drop > 0.02
    assert _failed(report) == ({("effectiveness", "dl19", "tas-b", "nDCG@10")} if should_fail else set())
    if k == 0:
        assert drop == 0.0
    if k == 15:
        assert should_fail
        assert drop > 0.05
    row = next(c for c in report.checks if (c.system, c.measure) == ("tas-b", "nDCG@10"))
    assert row.delta == pytest.approx(-drop)
    assert row.snapshot == pytest.approx(0.7210, abs=5e-5)


def test_small_random_perturbation_within_margin_passes_and_a_real_drop_fails(dl19: Path, tmp_path: Path) -> None:
    results = ResultSet.load(dl19)
    snapshot = load_snapshot(_snapshot_file(results, tmp_path))
    cell = results.cell("dl19", "tas-b")
    assert cell is not None
    rng = np.random.default_rng(42)

    def shifted(shift: float, noise: float) -> ResultSet:
        pq = {
            m: {q: float(np.clip(v + shift + rng.uniform(-noise, noise), 0, 1)) for q, v in vals.items()}
            for m, vals in cell.per_query.items()
        }
        agg = {m: float(np.mean(list(v.values()))) for m, v in pq.items()}
        return _with_cell(results, "dl19", "tas-b", per_query=pq, aggregate=agg, run_sha256="0" * 64)

    rules = GateRules(max_drop=0.01, margin=0.02, exact=[], latency=NO_LATENCY)  # type: ignore[arg-type]
    small = run_gate(shifted(0.0, 0.004), snapshot, rules)
    assert small.passed, [c.message for c in small.failures]
    ni = [c for c in small.checks if c.kind == "effectiveness" and c.system == "tas-b"]
    assert ni
    assert all(c.p is not None and c.p < 1e-6 for c in ni)

    big = run_gate(shifted(-0.03, 0.004), snapshot, rules)
    failed = {(c.system, c.measure) for c in big.failures}
    assert failed == {("tas-b", m) for m in results.measures}
    assert all("max_drop" in c.message and "non-inferiority" in c.message for c in big.failures)
    # exact on a changed run: fails and says how many values differ
    exact = run_gate(shifted(0.0, 0.004), snapshot, rules.model_copy(update={"exact": ["tas-b"]}))
    assert [c.kind for c in exact.failures] == ["exact"]
    assert "per-query values differ" in exact.failures[0].message


# ------------------------------------------------------------------ missing things, changed datasets


def _gate_cli(results: ResultSet, snapshot: Path, tmp: Path, *extra: str) -> tuple[int, str, str, ET.Element]:
    out = tmp / "new"
    out.mkdir(parents=True, exist_ok=True)
    results.save(out)
    junit = tmp / "junit.xml"
    code, stdout, err = run_cli("gate", str(out), "--snapshot", str(snapshot), "--junit", str(junit), *extra)
    root = ET.parse(junit).getroot() if junit.exists() else ET.Element("none")
    return code, stdout, err, root


def _junit_failures(root: ET.Element) -> dict[str, str]:
    return {
        case.get("name", ""): fail.get("message", "")
        for case in root.iter("testcase")
        for fail in case.findall("failure")
    }


def test_missing_system_measure_dataset_and_changed_fingerprint_fail_by_name(dl19: Path, tmp_path: Path) -> None:
    results = ResultSet.load(dl19)
    base = _snapshot_file(results, tmp_path)

    no_system = results.model_copy(update={"cells": [c for c in results.cells if c.system != "tas-b"]})
    code, stdout, _, junit = _gate_cli(no_system, base, tmp_path / "a")
    assert code == 1
    assert _junit_failures(junit) == {
        "cell: dl19 / tas-b": "system 'tas-b' on dataset 'dl19' is in the snapshot but not in the results"
    }
    assert "gate FAIL" in stdout

    cell = results.cell("dl19", "tas-b")
    assert cell is not None
    agg = {m: v for m, v in cell.aggregate.items() if m != "AP(rel=2)"}
    pq = {m: v for m, v in cell.per_query.items() if m != "AP(rel=2)"}
    code, _, _, junit = _gate_cli(
        _with_cell(results, "dl19", "tas-b", aggregate=agg, per_query=pq), base, tmp_path / "b"
    )
    assert code == 1
    assert _junit_failures(junit) == {
        "effectiveness: dl19 / tas-b / AP(rel=2)": "measure 'AP(rel=2)' is in the snapshot but not in the results"
    }

    renamed = results.model_copy(
        update={
            "datasets": {"dl20": results.datasets["dl19"]},
            "cells": [c.model_copy(update={"dataset": "dl20"}) for c in results.cells],
        }
    )
    code, _, _, junit = _gate_cli(renamed, base, tmp_path / "c")
    assert code == 1
    assert _junit_failures(junit)["dataset: dl19"] == "dataset 'dl19' is in the snapshot but not in the results"

    changed = results.model_copy(update={"datasets": {"dl19": {**results.datasets["dl19"], "fingerprint": "f" * 64}}})
    code, _, _, junit = _gate_cli(changed, base, tmp_path / "d")
    assert code == 1
    ((name, message),) = _junit_failures(junit).items()
    assert name == "dataset: dl19"
    assert "fingerprint ffffffffffff differs" in message

    code, stdout, _, junit = _gate_cli(results, base, tmp_path / "e", "--markdown", str(tmp_path / "e" / "s.md"))
    assert code == 0, stdout
    assert _junit_failures(junit) == {}
    assert len(list(junit.iter("testcase"))) == int(junit.find("testsuite").get("tests"))  # type: ignore[union-attr]
    md = (tmp_path / "e" / "s.md").read_text(encoding="utf-8")
    assert md.startswith("## ✅ gate PASS")
    assert "| effectiveness | dl19 | tas-b | nDCG@10 | 0.7210 | 0.7210 | +0.0000 |" in md


def test_bad_snapshots_and_rules_exit_2(dl19: Path, tmp_path: Path) -> None:
    results = ResultSet.load(dl19)
    base = _snapshot_file(results, tmp_path)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    code, _, err = run_cli("gate", str(dl19), "--snapshot", str(garbage))
    assert code == 2
    assert "snapshot is not valid JSON" in err
    other = tmp_path / "other.json"
    other.write_text('{"format": "something-else"}', encoding="utf-8")
    code, _, err = run_cli("gate", str(dl19), "--snapshot", str(other))
    assert code == 2
    assert "harness snapshot save" in err
    code, _, err = run_cli("gate", str(dl19), "--snapshot", str(tmp_path / "absent.json"))
    assert code == 2
    assert "snapshot file not found" in err
    code, _, err = run_cli("gate", str(dl19))
    assert code == 2
    assert "no snapshot given" in err
    code, _, err = run_cli("gate", str(dl19), "--snapshot", str(base), "--max-drop", "nDCG@10=lots")
    assert code == 2
    assert "--max-drop 'nDCG@10=lots' is not a number" in err
    code, _, err = run_cli("gate", str(dl19), "--snapshot", str(base), "--exact", "bm26")
    assert code == 2
    assert "gate.exact names system 'bm26'" in err
    code, _, err = run_cli("gate", str(dl19), "--snapshot", str(base), "--max-drop", "nDCG@100=0.1")
    assert code == 2
    assert "measure 'nDCG@100'" in err
    spec = tmp_path / "rules.yaml"
    spec.write_text("gate: {max_dorp: 0.01}\n", encoding="utf-8")
    code, _, err = run_cli("gate", str(dl19), "--snapshot", str(base), "--spec", str(spec))
    assert code == 2
    assert "unknown key 'max_dorp'" in err
    with pytest.raises(GateError, match="non-negative"):
        merge_rules({"margin": -0.1})


def test_exact_fails_on_a_changed_run_file_even_when_every_value_matches(dl19: Path, tmp_path: Path) -> None:
    results = ResultSet.load(dl19)
    snapshot = load_snapshot(_snapshot_file(results, tmp_path))
    cell = results.cell("dl19", "tas-b")
    assert cell is not None
    rules = GateRules(exact=["tas-b"], latency=NO_LATENCY)  # type: ignore[arg-type]
    (same,) = [c for c in run_gate(results, snapshot, rules).checks if c.kind == "exact"]
    assert (same.verdict, same.message) == ("PASS", "run file identical (sha256 matches)")

    rehashed = run_gate(_with_cell(results, "dl19", "tas-b", run_sha256="0" * 64), snapshot, rules)
    assert _failed(rehashed) == {("exact", "dl19", "tas-b", "")}
    assert rehashed.failures[0].message == (
        f"marked exact, but the run file changed (sha256 {'0' * 12}… != snapshot's {cell.run_sha256[:12]}…); "
        "per-query values match"
    )


def test_snapshots_of_the_former_format_load_and_other_formats_are_refused(dl19: Path, tmp_path: Path) -> None:
    results = ResultSet.load(dl19)
    doc = build_snapshot(results)
    assert (doc["format"], doc["version"]) == ("harness-snapshot", 1)
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({**doc, "format": "harness-baseline"}), encoding="utf-8")
    assert run_gate(results, load_snapshot(legacy), GateRules()).passed
    code, stdout, err = run_cli("gate", str(dl19), "--snapshot", str(legacy))
    assert code == 0, stdout + err

    for name, changes in (("other.json", {"format": "harness-results"}), ("v2.json", {"version": 2})):
        bad = tmp_path / name
        bad.write_text(json.dumps({**doc, **changes}), encoding="utf-8")
        with pytest.raises(GateError) as info:
            load_snapshot(bad)
        assert str(info.value).startswith(f"{bad}: ")
        assert "harness snapshot save" in str(info.value)
    code, _, err = run_cli("gate", str(dl19), "-s", str(tmp_path / "other.json"))
    assert code == 2
    assert "other.json: not a harness snapshot file (format 'harness-results'" in err


# ------------------------------------------------------------------ latency


def test_latency_is_gated_as_ratios_to_the_reference(ci_run: Path, tmp_path: Path) -> None:
    results = ResultSet.load(ci_run)
    cell = results.cell("dl19", "bm25-k1.2")
    ref = results.cell("dl19", "bm25")
    assert cell is not None
    assert ref is not None
    lat, ref_lat = latency_percentiles(cell.timing), latency_percentiles(ref.timing)
    assert lat is not None
    assert ref_lat is not None
    doc = build_snapshot(results)
    assert doc["reference_system"] == "bm25"
    entry = doc["systems"]["dl19"]["bm25-k1.2"]["latency"]
    assert entry["p50_ratio"] == pytest.approx(lat["p50"] / ref_lat["p50"])
    assert doc["systems"]["dl19"]["bm25"]["latency"]["p95_ratio"] == 1.0
    base = tmp_path / "b.json"
    base.write_text(json.dumps(doc), encoding="utf-8")
    snapshot = load_snapshot(base)
    wall = {"max_growth": 0.5, "clock": "wall", "percentiles": ["p50", "p95"], "min_delta_ms": 0}
    rules = GateRules(latency=wall, margin=None)  # type: ignore[arg-type]

    def scaled(factor: float) -> ResultSet:
        timing = _timing(cell)
        timing["latency"] = {**timing["latency"], "p50": lat["p50"] * factor, "p95": lat["p95"] * factor}
        return _with_cell(results, "dl19", "bm25-k1.2", timing=timing)

    assert run_gate(scaled(1.0), snapshot, rules).passed
    assert run_gate(scaled(1.4), snapshot, rules).passed
    slow = run_gate(scaled(1.6), snapshot, rules)
    assert _failed(slow) == {("latency", "dl19", "bm25-k1.2", "p50"), ("latency", "dl19", "bm25-k1.2", "p95")}
    assert "grew 60.0% (> allowed 50%)" in slow.failures[0].message
    # the same absolute slow-down on every system (a slower machine) is not a regression
    slower = []
    for c in results.cells:
        t = _timing(c)
        t["latency"] = {k: v * 3 if k in ("p50", "p95") else v for k, v in t["latency"].items()}
        slower.append(c.model_copy(update={"timing": Timing.from_dict(t)}))
    everything_slower = results.model_copy(update={"cells": slower})
    assert run_gate(everything_slower, snapshot, rules).passed

    no_timing = _with_cell(results, "dl19", "bm25-k1.2", timing={})
    failed = run_gate(no_timing, snapshot, rules).failures
    # A busy machine while the reference was timed adds "[timed on a busy machine: ...]".
    assert len(failed) == 1
    assert failed[0].message.startswith(
        "no latency recorded for system 'bm25-k1.2' on 'dl19', but the snapshot has latency for 'bm25-k1.2'"
    )
    # no latency anywhere: reported, not failed
    bare = _each_cell(results, timing={})
    bare_base = tmp_path / "bare.json"
    bare_base.write_text(json.dumps(build_snapshot(bare)), encoding="utf-8")
    report = run_gate(bare, load_snapshot(bare_base), rules)
    assert report.passed
    skips = [c for c in report.checks if c.kind == "latency"]
    assert len(skips) == 2
    assert all(c.verdict == "SKIP" and "no latency recorded" in c.message for c in skips)


def test_cpu_clock_gates_cpu_time_ratios_and_ignores_wall_noise(ci_run: Path, tmp_path: Path) -> None:
    results = ResultSet.load(ci_run)
    cell = results.cell("dl19", "bm25-k1.2")
    ref = results.cell("dl19", "bm25")
    assert cell is not None
    assert ref is not None
    cpu, ref_cpu = latency_percentiles(cell.timing, "cpu"), latency_percentiles(ref.timing, "cpu")
    assert cpu is not None
    assert ref_cpu is not None
    assert cell.timing is not None
    assert len(cell.timing.cpu_samples_ms) == len(cell.timing.samples_ms) == 5 * 43  # repeats x queries
    doc = build_snapshot(results)
    entry = doc["systems"]["dl19"]["bm25-k1.2"]
    assert entry["cpu_latency"]["p50_ratio"] == pytest.approx(cpu["p50"] / ref_cpu["p50"])
    base = tmp_path / "b.json"
    base.write_text(json.dumps(doc), encoding="utf-8")
    snapshot = load_snapshot(base)
    cpu_rule = {"max_growth": 0.5, "clock": "cpu", "percentiles": ["p50", "p95"], "min_delta_ms": 0}
    rules = GateRules(latency=cpu_rule, margin=None)  # type: ignore[arg-type]

    def doctored(block: str, factor: float) -> ResultSet:
        timing = _timing(cell)
        timing[block] = {k: v * factor if k in ("p50", "p95") else v for k, v in timing[block].items()}
        return _with_cell(results, "dl19", "bm25-k1.2", timing=timing)

    # A co-tenant tripled the wall time of one cell: the CPU clock does not see it.
    assert run_gate(doctored("latency", 3.0), snapshot, rules).passed
    slow = run_gate(doctored("cpu_latency", 1.6), snapshot, rules)
    assert _failed(slow) == {("latency", "dl19", "bm25-k1.2", "cpu p50"), ("latency", "dl19", "bm25-k1.2", "cpu p95")}
    assert "cpu p50 ratio to 'bm25' grew 60.0%" in slow.failures[0].message
    # A snapshot saved before CPU times were recorded cannot gate them: a failure that says so.
    for systems in doc["systems"].values():
        for e in systems.values():
            e.pop("cpu_latency")
    base.write_text(json.dumps(doc), encoding="utf-8")
    old = run_gate(results, load_snapshot(base), rules)
    assert not old.passed
    assert "re-save it" in old.failures[0].message


def test_default_latency_rule_has_a_noise_floor(ci_run: Path, tmp_path: Path) -> None:
    results = ResultSet.load(ci_run)
    cell = results.cell("scifact-50", "bm25-k1.2")
    assert cell is not None
    base = tmp_path / "b.json"
    base.write_text(json.dumps(build_snapshot(results)), encoding="utf-8")
    snapshot = load_snapshot(base)
    defaults = GateRules(margin=None)
    assert (defaults.latency.clock, defaults.latency.percentiles) == ("cpu", ["p50"])

    def cpu_scaled(factor: float, add_ms: float = 0.0) -> ResultSet:
        timing = _timing(cell)
        timing["cpu_latency"] = {
            k: v * factor + add_ms if k in ("p50", "p95") else v for k, v in timing["cpu_latency"].items()
        }
        return _with_cell(results, "scifact-50", "bm25-k1.2", timing=timing)

    # SciFact BM25 queries take about a millisecond of CPU: +60% of that is under the 1 ms floor.
    p50 = _timing(cell)["cpu_latency"]["p50"]
    assert p50 < 1 / 0.6, "this test needs sub-1.7 ms queries"
    small = run_gate(cpu_scaled(1.6), snapshot, defaults)
    assert small.passed
    (check,) = [c for c in small.checks if (c.kind, c.dataset, c.system) == ("latency", "scifact-50", "bm25-k1.2")]
    assert "grew 60.0% (> allowed 50%)" in check.message
    assert "< noise floor 1 ms" in check.message
    # The same query plus 5 ms is a regression.
    big = run_gate(cpu_scaled(1.0, 5.0), snapshot, defaults)
    assert _failed(big) == {("latency", "scifact-50", "bm25-k1.2", "cpu p50")}
    assert ">= noise floor 1 ms" in big.failures[0].message


def test_systems_reading_other_runs_are_timed_end_to_end(ci_run: Path) -> None:
    """A `use`/fusion cell's own stages cost next to nothing; the gate adds its inputs' times."""
    import numpy as np

    from harness.latency import pipeline_percentiles

    results = ResultSet.load(ci_run)
    ref = results.cell("dl19", "bm25")
    assert ref is not None
    n = len(_timing(ref)["samples_ms"])
    own = {
        **_timing(ref),
        "depends_on": ["bm25"],
        "samples_ms": [0.01] * n,
        "cpu_samples_ms": [0.01] * n,
        "latency": latency_stats([0.01] * n),
        "cpu_latency": latency_stats([0.01] * n),
    }
    pipe = ref.model_copy(update={"system": "pipe", "timing": Timing.from_dict(own)})
    piped = results.model_copy(
        update={
            "cells": [*results.cells, pipe],
            "systems": {**results.systems, "pipe": SystemInfo(base="pipe", config=[])},
        }
    )
    for clock, key in (("wall", "samples_ms"), ("cpu", "cpu_samples_ms")):
        lat = pipeline_percentiles(piped, "dl19", clock)  # type: ignore[arg-type]
        expected = np.percentile(np.asarray(_timing(ref)[key]) + 0.01, 50)
        assert lat["pipe"]["p50"] == pytest.approx(expected)
        assert lat["pipe"]["p50"] > lat["bm25"]["p50"]


# ------------------------------------------------------------------ snapshot save and the CI gate


def test_snapshot_save_stores_fingerprints_hashes_and_per_query_values(ci_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    code, stdout, err = run_cli("snapshot", "save", str(ci_run), "-o", str(out))
    assert code == 0, err
    assert "2 datasets, 4 cells, 4 measures, latency reference bm25" in stdout
    doc = json.loads(out.read_text(encoding="utf-8"))
    results = ResultSet.load(ci_run)
    for name, summary in results.datasets.items():
        assert doc["datasets"][name]["fingerprint"] == summary["fingerprint"]
    for c in results.cells:
        entry = doc["systems"][c.dataset][c.system]
        assert entry["run_sha256"] == c.run_sha256
        assert list(entry["measures"]) == ["nDCG@10", "RR@10", "R@100", "AP"]
        for m in results.measures:
            assert entry["measures"][m]["aggregate"] == c.aggregate[m]
            assert len(entry["measures"][m]["per_query"]) == (50 if c.dataset == "scifact-50" else 43)
    scifact = doc["systems"]["scifact-50"]["bm25"]["measures"]["nDCG@10"]["aggregate"]
    assert scifact == pytest.approx(0.7897, abs=5e-5)


def test_ci_run_gates_the_ci_experiment_and_an_unchanged_run_passes(ci_run: Path, tmp_path: Path) -> None:
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "harness run experiments/ci-gate.yaml" in script
    assert "harness gate reports/ci-gate --snapshot experiments/snapshots/ci-gate.json" in script
    junit = tmp_path / "junit.xml"
    # rules from the results' own spec; latency noise of a loaded test machine is kept out
    code, stdout, err = run_cli(
        "gate", str(ci_run), "--snapshot", str(CI_SNAPSHOT), "--junit", str(junit), "--latency-growth", "1000"
    )
    assert code == 0, stdout + err
    assert "gate PASS" in stdout
    root = ET.parse(junit).getroot()
    names = {c.get("name") for c in root.iter("testcase")}
    assert {"exact: scifact-50 / bm25", "exact: dl19 / bm25-k1.2", "effectiveness: dl19 / bm25 / nDCG@10"} <= names
    assert not list(root.iter("failure"))


def test_a_doctored_results_file_fails_the_ci_gate(ci_run: Path, tmp_path: Path) -> None:
    """What a commit that broke BM25 on a few DL19 queries would do to CI."""
    broken = tmp_path / "broken"
    broken.mkdir()
    # Doctored by hand, as one JSON file (schema 2: the per-query values inline).
    doc = read_results(ci_run) | {"schema_version": 2, "tables": {}}
    cell = next(c for c in doc["cells"] if (c["dataset"], c["system"]) == ("dl19", "bm25"))
    pq = cell["per_query"]["nDCG@10"]
    for q in list(pq)[:5]:
        pq[q] = 0.0
    cell["aggregate"]["nDCG@10"] = sum(pq.values()) / len(pq)
    cell["run_sha256"] = "0" * 64
    (broken / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    junit, md = tmp_path / "junit.xml", tmp_path / "summary.md"
    code, stdout, _ = run_cli(
        "gate", str(broken), "--snapshot", str(CI_SNAPSHOT), "--junit", str(junit), "--markdown", str(md)
    )
    assert code == 1
    failures = _junit_failures(ET.parse(junit).getroot())
    assert "exact: dl19 / bm25" in failures
    assert "effectiveness: dl19 / bm25 / nDCG@10" in failures
    assert "max_drop 0.01" in failures["effectiveness: dl19 / bm25 / nDCG@10"]
    assert "FAIL effectiveness: dl19 / bm25 / nDCG@10" in stdout
    assert md.read_text(encoding="utf-8").startswith("## ❌ gate FAIL")


def test_junit_and_markdown_escape_and_parse(dl19: Path, tmp_path: Path) -> None:
    results = ResultSet.load(dl19)
    snapshot = load_snapshot(_snapshot_file(results, tmp_path))
    odd = results.model_copy(update={"cells": [c for c in results.cells if c.system != "bm25"]})
    report = run_gate(odd, snapshot, GateRules())
    root = ET.fromstring(format_junit(report).split("?>", 1)[1])
    assert root.find("testsuite").get("failures") == "1"  # type: ignore[union-attr]
    assert "| **FAIL** |" in format_markdown(report)
