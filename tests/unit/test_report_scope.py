"""The report's latency scope (end-to-end or search-only), the steps stages time apart, and cells
timed on a busy machine, on hand-made results; the gate's search-only ratios."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.gate import load_snapshot, merge_rules, run_gate
from harness.gate.snapshot import save_snapshot
from harness.latency import pipeline_percentiles
from harness.report import ReportOptions, write_report
from harness.report.build import build
from harness.report.view import Point
from harness.results import Cell, Manifest, ResultSet
from harness.sections import ReportConfig, Settings
from harness.timing import LatencyStats, Timing, latency_stats

pytest.importorskip("matplotlib", reason="the report needs the plots extra: pip install -e '.[plots]'")
pytest.importorskip("jinja2", reason="the report needs the plots extra: pip install -e '.[plots]'")

QIDS = [f"q{i}" for i in range(8)]
ENCODE_MS = [11.0, 12.0, 13.0, 12.5, 11.5, 12.0, 14.0, 12.0]
"""Every dense variant encodes the query with one model: the same cost per query."""
SEARCH_MS = {
    "hnsw@efSearch=16": 0.05,
    "hnsw@efSearch=256": 0.40,
    "ivf@nprobe=1": 0.02,
    "ivf@nprobe=64": 1.50,
    "bm25": 0.80,
}
NDCG = {"hnsw@efSearch=16": 0.58, "hnsw@efSearch=256": 0.64, "ivf@nprobe=1": 0.35, "ivf@nprobe=64": 0.645, "bm25": 0.67}
ENV = {"cpu": "Test CPU", "arch": "x86_64", "cores": 2, "isa": [], "os": "Linux", "python": "3.11", "id": "e1"}


def _timing(system: str, noisy: bool) -> Timing:
    search = [SEARCH_MS[system] * (1 + i / 10) for i in range(len(QIDS))]
    encode = [0.0] * len(QIDS) if system == "bm25" else ENCODE_MS
    wall = [e + s + 0.01 for e, s in zip(encode, search, strict=True)]  # 0.01 ms of harness work
    cpu = [w * 0.9 for w in wall]
    parts = {"encode": encode, "search": search}
    noise = {
        "passes": 3 if noisy else 1,
        "kept": 2 if noisy else 1,
        "noisy": noisy,
        "reason": "other processes kept 1.70 cores busy (limit 0.5)" if noisy else "",
        "others_cpu": 1.7 if noisy else 0.02,
        "steal": 0.0,
        "loadavg": 2.0,
        "tail_drift": 1.1,
        "pass_reasons": ["x", "other processes kept 1.70 cores busy (limit 0.5)", "y"] if noisy else [""],
    }
    return Timing.from_dict(
        {
            "config": {"mode": "per-query"},
            "queries": len(QIDS),
            "offline": {"prepare_s": 1.0, "build_s": 1.0, "cached": False},
            "batch": {"queries": len(QIDS), "seconds": 0.1, "qps": 80.0},
            "latency": latency_stats(wall),
            "query_ids": QIDS,
            "samples_ms": wall,
            "cpu_latency": latency_stats(cpu),
            "cpu_samples_ms": cpu,
            "encode_samples_ms": [] if system == "bm25" else encode,
            "encode_cpu_samples_ms": [] if system == "bm25" else [e * 0.9 for e in encode],
            "stages": [
                {
                    "type": "bm25" if system == "bm25" else "dense",
                    "prepare_s": 1.0,
                    "search_s": 0.1,
                    "latency": latency_stats(wall),
                    "samples_ms": wall,
                    "parts": {k: {"latency": latency_stats(v), "samples_ms": v} for k, v in parts.items()},
                }
            ],
            "environment_id": "e1",
            "noise": noise,
        }
    )


def make_results(noisy: str = "", scope: Any = "end-to-end") -> ResultSet:
    cells = [
        Cell(
            dataset="scifact",
            system=s,
            run_file=f"runs/{s}.trec.gz",
            run_sha256="0" * 64,
            judged=len(QIDS),
            answered=len(QIDS),
            aggregate={"nDCG@10": v},
            per_query={"nDCG@10": dict.fromkeys(QIDS, v)},
            timing=_timing(s, noisy == s),
        )
        for s, v in NDCG.items()
    ]
    systems = {
        s: {"base": s.split("@")[0], "config": [], "sweep": {s.split("@")[1].split("=")[0]: int(s.split("=")[1])}}
        for s in NDCG
        if "@" in s
    }
    systems["bm25"] = {"base": "bm25", "config": [], "sweep": {}}
    return ResultSet(
        experiment="scope",
        manifest=Manifest(spec={"name": "scope"}, harness_version="0", created="2026-01-01T00:00:00+00:00"),
        settings=Settings(report=ReportConfig(scope=scope)),
        environment={"e1": ENV},
        measures=["nDCG@10"],
        datasets={"scifact": {"docs": 5183, "queries": len(QIDS)}},
        systems=systems,
        cells=cells,
    )


def _xs(points: list[Point]) -> dict[str, float]:
    out = {}
    for p in points:
        assert p.x is not None, p.system
        out[p.system] = p.x
    return out


def _p50(samples: list[float]) -> float:
    return float(latency_stats(samples)["p50"])


def test_search_only_scope_leaves_query_encoding_out_and_separates_the_sweeps() -> None:
    results = make_results()
    e2e = _xs(build(results, ReportOptions()).datasets[0].points)
    search = _xs(build(results, ReportOptions(scope="search-only")).datasets[0].points)
    for system, ms in SEARCH_MS.items():
        s = [ms * (1 + i / 10) + 0.01 for i in range(len(QIDS))]
        assert search[system] == pytest.approx(_p50(s), abs=1e-3), system
        encode = [0.0] * len(QIDS) if system == "bm25" else ENCODE_MS
        assert e2e[system] == pytest.approx(_p50([a + b for a, b in zip(encode, s, strict=True)]), abs=1e-3)
    # End to end, every dense variant sits near the encoder's ~12 ms: within 20% of each other ...
    dense = [v for k, v in e2e.items() if k != "bm25"]
    assert max(dense) / min(dense) < 1.2
    # ... search only, the sweeps spread over two orders of magnitude, each along its knob.
    assert search["ivf@nprobe=64"] / search["ivf@nprobe=1"] > 50
    assert search["hnsw@efSearch=256"] / search["hnsw@efSearch=16"] > 5
    # A system without an encode step (BM25) costs the same in both scopes.
    assert search["bm25"] == e2e["bm25"]


def test_the_latency_table_shows_each_stage_step_and_the_machine_while_timed() -> None:
    ds = build(make_results(noisy="ivf@nprobe=1"), ReportOptions()).datasets[0]
    row = next(r for r in ds.latency_rows if r["system"] == "hnsw@efSearch=16")
    (stage_type, _, _, _, steps) = row["stages"][0]
    assert stage_type == "dense"
    assert [name for name, _ in steps] == ["encode", "search"]
    assert steps[0][1] == pytest.approx(_p50(ENCODE_MS))
    assert not row["noisy"]
    assert "other processes 0.02 cores" in row["noise"]
    noisy = next(r for r in ds.latency_rows if r["system"] == "ivf@nprobe=1")
    assert noisy["noisy"]
    assert noisy["noise"].startswith("other processes kept 1.70 cores busy (limit 0.5)")
    assert "pass 2 of 3 kept" in noisy["noise"]
    assert [p.system for p in ds.points if p.noisy] == ["ivf@nprobe=1"]


def test_report_scope_from_the_settings_the_command_line_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_results(scope="search-only").save(tmp_path)
    assert main(["report", str(tmp_path)]) == 0
    svg = (tmp_path / "plots" / "scifact-tradeoff.svg").read_text()
    assert "p50, search only (ms, log scale)" in svg  # the spec's report.scope
    assert main(["report", str(tmp_path), "--scope", "end-to-end"]) == 0
    assert "search only" not in (tmp_path / "plots" / "scifact-tradeoff.svg").read_text()
    capsys.readouterr()
    assert main(["report", str(tmp_path), "--scope", "encode-only"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "unknown latency scope 'encode-only'" in err[0]
    assert "end-to-end, search-only" in err[0]


def test_the_gate_compares_search_only_ratios_when_asked(tmp_path: Path) -> None:
    results = make_results()
    snap = tmp_path / "snap.json"
    save_snapshot(results, snap, reference="bm25")
    snapshot = load_snapshot(snap)
    cell = snapshot.systems["scifact"]["ivf@nprobe=64"]
    now = pipeline_percentiles(results, "scifact", "wall", "search-only")
    ratio = cell.ratios("wall", "search-only")
    assert ratio is not None
    assert ratio["p50_ratio"] == pytest.approx(now["ivf@nprobe=64"]["p50"] / now["bm25"]["p50"])
    # IVF's search grows 3x against the reference; end to end that is hidden by the encoder.
    slower = {"ivf@nprobe=64": 3.0}
    changed = results.model_copy(
        update={
            "cells": [
                c.model_copy(update={"timing": _scaled_search(c.timing, slower.get(c.system, 1.0))})
                for c in results.cells
            ]
        }
    )
    for scope, verdict in (("end-to-end", "PASS"), ("search-only", "FAIL")):
        rules = merge_rules({"latency": {"clock": "wall", "scope": scope, "max_growth": 0.5, "min_delta_ms": 0.1}})
        report = run_gate(changed, snapshot, rules)
        check = next(c for c in report.checks if c.kind == "latency" and c.system == "ivf@nprobe=64")
        assert check.verdict == verdict, (scope, check.message)


def _scaled_search(t: Timing | None, factor: float) -> Timing | None:
    """The timing with its search (everything but query encoding) `factor` times slower."""
    if t is None or factor == 1.0:
        return t
    enc = t.encode_samples_ms
    wall = [e + (w - e) * factor for w, e in zip(t.samples_ms, enc, strict=True)]
    return t.model_copy(update={"samples_ms": tuple(wall), "latency": LatencyStats.of(wall)})


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium; .ci/run does)")
def test_a_search_only_report_renders_in_chromium(tmp_path: Path) -> None:
    files = write_report(make_results(noisy="ivf@nprobe=1"), tmp_path / "r.html", ReportOptions(scope="search-only"))
    shot = tmp_path / "shot.png"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,2400",
        f"--screenshot={shot}",
        "--dump-dom",
        files.html.resolve().as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert "scope <code>search-only</code> (query encoding left out)" in dom
    assert "without query encoding (search only)" in dom
    assert '<span class="tag noisy">noisy</span>' in dom
    # hnsw@efSearch=16 by hand: mean 98/8 (encode) + 0.05 * 1.35 (search) + 0.01 = 12.3275; p50 of
    # the sums 12.09; encode p50 12.0; search p50 at position 3.5 = 0.05 * 1.35 = 0.0675
    assert 'dense: 12.33 / 12.09 <span class="muted">(encode 12.00, search 0.068)</span>' in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000


def test_a_snapshot_without_search_only_ratios_fails_the_search_only_gate_with_the_fix(tmp_path: Path) -> None:
    import json

    results = make_results()
    snap = tmp_path / "snap.json"
    save_snapshot(results, snap, reference="bm25")
    doc = json.loads(snap.read_text())
    for cells in doc["systems"].values():  # as saved by a version without the search-only scope
        for entry in cells.values():
            del entry["search_latency"], entry["search_cpu_latency"]
    snap.write_text(json.dumps(doc))
    rules = merge_rules({"latency": {"clock": "wall", "scope": "search-only"}})
    report = run_gate(results, load_snapshot(snap), rules)
    check = next(c for c in report.checks if c.kind == "latency" and c.system == "ivf@nprobe=64")
    assert check.verdict == "FAIL"
    assert check.message == (
        "gate.latency.scope is search-only but the snapshot holds end-to-end ratios only: re-save it "
        "with `harness snapshot save` from a run of this version, or set scope: end-to-end"
    )


def test_latency_verdicts_on_noisy_timings_say_so(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    save_snapshot(make_results(), snap, reference="bm25")
    rules = merge_rules({"latency": {"clock": "wall", "max_growth": 0.5}})
    report = run_gate(make_results(noisy="ivf@nprobe=64"), load_snapshot(snap), rules)
    latency = {c.system: c for c in report.checks if c.kind == "latency"}
    assert latency["ivf@nprobe=64"].verdict == "PASS"  # the verdict stands; the reader is told
    assert latency["ivf@nprobe=64"].message.endswith("[timed on a busy machine: ivf@nprobe=64 noisy]")
    assert "busy machine" not in latency["hnsw@efSearch=16"].message


def test_the_markdown_summary_names_the_scope_and_the_noisy_cells(tmp_path: Path) -> None:
    files = write_report(make_results(noisy="ivf@nprobe=1"), tmp_path / "r.html", ReportOptions(scope="search-only"))
    md = files.markdown.read_text()
    assert "| search p50 ms | search p95 ms | batch q/s | timing |" in md
    # ivf@nprobe=1 search-only samples by hand: 0.02 * (1 + i/10) + 0.01 = 0.030, 0.032, ..., 0.044;
    # p50 at position 3.5 = 0.037, p95 at 6.65 = 0.042 + 0.65 * 0.002 = 0.0433
    noisy_row = (
        "| ivf@nprobe=1 | 0.3500 ▼ | 0.037 | 0.043 | 80.0 | noisy: other processes kept 1.70 cores busy (limit 0.5)"
    )
    assert noisy_row + " (pass 2 of 3 kept) |" in md
    assert "noisy: every timing pass of that cell was disturbed by the machine" in md
    assert "ivf@nprobe=1 (noisy) (0.037 ms, 0.3500) → hnsw@efSearch=16" in md  # on the frontier, marked
