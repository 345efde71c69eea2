"""The report: data from a hand-made ResultSet, files, determinism, escaping, CLI, Chromium. (A real
run, then the report regenerated from results.json: tests/integration/test_report_regeneration.py.)"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.errors import DataError, EvalError, SystemConfigError
from harness.report import ReportOptions, write_report
from harness.report.build import build
from harness.report.html import render_html
from harness.report.options import report_options
from harness.results import Cell, Manifest, ResultSet, SystemInfo
from harness.sections import CompareConfig, ReportConfig, Settings
from harness.timing import Timing, latency_stats
from tests.support import REPO

XSS_SYSTEM = "<script>document.documentElement.setAttribute('data-xss','1')</script>"
XSS_QUERY = "<img src=x onerror=\"document.documentElement.setAttribute('data-xss','1')\">"
XSS_DATASET = "ds<b onmouseover=alert(1)>\"'&$x^{"  # '$' would be TeX to matplotlib

pytest.importorskip("matplotlib", reason="the report needs the plots extra: pip install -e '.[plots]'")
pytest.importorskip("jinja2", reason="the report needs the plots extra: pip install -e '.[plots]'")


ENV = {
    "cpu": "Test CPU",
    "arch": "x86_64",
    "cores": 2,
    "isa": ["avx2"],
    "os": "Linux",
    "python": "3.11",
    "packages": {"numpy": "2"},
    "id": "abcdef123456",
}


def _timing(samples: list[float], qps: float, build_s: float, cached: bool = False) -> dict[str, Any]:
    return {
        "config": {"mode": "per-query", "warmup": 5, "repeats": 1, "max_queries": None},
        "queries": len(samples),
        "offline": {"prepare_s": 0.1, "build_s": build_s, "cached": cached},
        "batch": {"queries": len(samples), "seconds": len(samples) / qps, "qps": qps},
        "latency": latency_stats(samples),
        "query_ids": [f"q{i}" for i in range(len(samples))],
        "samples_ms": samples,
        # Half of each query's wall time on the CPU (the rest: waiting).
        "cpu_latency": latency_stats([v / 2 for v in samples]),
        "cpu_samples_ms": [v / 2 for v in samples],
        "stages": [
            {
                "type": "bm25",
                "prepare_s": 0.1,
                "search_s": 0.01,
                "costs": {"build_s": build_s, "docs": 1000, "index_bytes": 4096},
                "cached": cached,
                "rss_delta_bytes": 2048,
                "latency": latency_stats(samples),
                "samples_ms": samples,
            }
        ],
        "memory": {"peak_rss_bytes": 10 << 20, "rss_start_bytes": 1 << 20, "rss_end_bytes": 2 << 20},
        "threads": {"cpu_count": 2, "affinity": 2},
        "environment_id": ENV["id"],
    }


def _cell(dataset: str, system: str, ndcg: list[float], latency_ms: float, qids: list[str]) -> Cell:
    halves = [x / 2 for x in ndcg]
    per_query = {"nDCG@10": dict(zip(qids, ndcg, strict=True)), "RR@10": dict(zip(qids, halves, strict=True))}
    mean = sum(ndcg) / len(ndcg)
    return Cell(
        dataset=dataset,
        system=system,
        run_file=f"runs/{system}.trec.gz",
        run_sha256="0" * 64,
        judged=len(qids),
        answered=len(qids),
        aggregate={"nDCG@10": mean, "RR@10": mean / 2},
        per_query=per_query,
        timing=Timing.from_dict(_timing([latency_ms] * len(qids), 1000 / latency_ms, 2.0, cached=False)),
    )


def _depends(cell: Cell, *systems: str) -> Cell:
    assert cell.timing is not None
    return cell.model_copy(update={"timing": cell.timing.model_copy(update={"depends_on": systems})})


def make_results() -> ResultSet:
    """A k1 sweep of three variants, a slow good system, a fast bad one and an XSS-named one."""
    qids = ["q1", "q2", XSS_QUERY, "q4"]
    rows = {
        # system: (per-query nDCG@10, latency ms)
        "bm25@k1=0.9": ([0.5, 0.5, 0.5, 0.5], 2.0),
        "bm25@k1=1.2": ([0.6, 0.5, 0.5, 0.6], 3.0),
        "bm25@k1=0.5": ([0.4, 0.5, 0.5, 0.4], 1.5),
        "dense": ([0.9, 0.8, 0.1, 0.8], 20.0),
        "slow-bad": ([0.1, 0.1, 0.1, 0.1], 50.0),
        XSS_SYSTEM: ([0.5, 0.5, 0.9, 0.5], 8.0),
    }
    cells = [_cell(ds, s, v, lat, qids) for ds in ("dsA", XSS_DATASET) for s, (v, lat) in rows.items()]
    systems = {
        s: {
            "base": "bm25" if s.startswith("bm25@") else s,
            "config": [],
            "sweep": {"k1": float(s.split("=")[1])} if s.startswith("bm25@") else {},
        }
        for s in rows
    }
    return ResultSet(
        experiment="hand-made",
        manifest=Manifest(
            spec={"name": "hand-made", "compare": {"baseline": "bm25@k1=0.9"}},
            harness_version="0",
            created="2026-01-01T00:00:00+00:00",
        ),
        settings=Settings(compare=CompareConfig(baseline="bm25@k1=0.9")),
        environment={ENV["id"]: ENV},
        measures=["nDCG@10", "RR@10"],
        datasets={"dsA": {"docs": 1000, "queries": 4, "judgments": 4}, XSS_DATASET: {"docs": 1}},
        systems=systems,
        cells=cells,
        comparisons={
            "baseline": "bm25@k1=0.9",
            "primary": "t",
            "alpha": 0.05,
            "results": [
                _comparison("dsA", "dense", 0.65, 0.15, 0.01, True),
                _comparison("dsA", "slow-bad", 0.1, -0.4, 0.0001, True),
                _comparison("dsA", XSS_SYSTEM, 0.6, 0.1, 0.3, False),
            ],
        },
    )


def _comparison(ds: str, system: str, mean: float, delta: float, p: float, sig: bool) -> dict[str, Any]:
    direction = ("better" if delta > 0 else "worse") if sig else "none"
    return {
        "dataset": ds,
        "measure": "nDCG@10",
        "system": system,
        "baseline": "bm25@k1=0.9",
        "n": 4,
        "mean": mean,
        "baseline_mean": 0.5,
        "delta": delta,
        "delta_ci": [delta - 0.1, delta + 0.1],
        "tests": {"t": {"statistic": 1.0, "p": p, "p_adjusted": p}},
        "improved": 3,
        "degraded": 1,
        "unchanged": 0,
        "significant": sig,
        "direction": direction,
    }


# ------------------------------------------------------------------ data


def test_view_summary_frontier_curves_and_winloss() -> None:
    view = build(make_results(), ReportOptions())
    assert view.measure == "nDCG@10"
    assert view.stat == "p50"
    best = {(r["dataset"], r["measure"]): r["systems"] for r in view.summary}
    assert best[("dsA", "nDCG@10")] == ["dense"]  # mean 0.65
    ds = view.datasets[0]
    front = sorted((p.system for p in ds.points if p.on_front), key=lambda s: [p.x for p in ds.points if p.system == s])
    # by latency: k1=0.5 (1.5 ms, .45), k1=0.9 (2, .5), k1=1.2 (3, .55), XSS (8, .6), dense (20, .65)
    assert front == ["bm25@k1=0.5", "bm25@k1=0.9", "bm25@k1=1.2", XSS_SYSTEM, "dense"]
    assert not next(p for p in ds.points if p.system == "slow-bad").on_front
    (curve,) = ds.curves
    assert curve.base == "bm25"
    assert curve.parameters == ["k1"]
    assert [p.label for p in curve.points] == ["k1=0.5", "k1=0.9", "k1=1.2"]
    # The comparisons' baseline (else the spec's compare.baseline) is the win/loss baseline.
    assert ds.baseline == "bm25@k1=0.9"
    wl = {r.system: r for r in ds.winloss}
    assert (wl["dense"].wins, wl["dense"].ties, wl["dense"].losses) == (3, 0, 1)
    assert wl["dense"].worst == [(XSS_QUERY, pytest.approx(-0.4))]
    assert (wl["bm25@k1=1.2"].wins, wl["bm25@k1=1.2"].ties, wl["bm25@k1=1.2"].losses) == (2, 2, 0)
    assert wl["slow-bad"].mean_delta == pytest.approx(-0.4)
    # Significance from results.json `comparisons`: markers and rows for dsA only.
    assert ds.markers == {("dense", "nDCG@10"): "▲", ("slow-bad", "nDCG@10"): "▼"}
    assert [r["system"] for r in ds.significance] == ["dense", "slow-bad", XSS_SYSTEM]
    assert view.datasets[1].significance == []


def test_options_are_validated() -> None:
    results = make_results()
    with pytest.raises(EvalError, match="measure 'nDCG@20'"):
        build(results, ReportOptions(measure="nDCG@20"))
    with pytest.raises(EvalError, match="latency statistic 'p42'"):
        build(results, ReportOptions(latency_stat="p42"))
    with pytest.raises(SystemConfigError, match="the baseline names system 'bm26', which these results do not hold"):
        build(results, ReportOptions(baseline="bm26"))
    # A sweep's base name is ambiguous as a baseline: the error names its variants.
    with pytest.raises(SystemConfigError, match=r"name one variant exactly: bm25@k1=0\.9, bm25@k1=1\.2, bm25@k1=0\.5"):
        build(results, ReportOptions(baseline="bm25"))
    view = build(results, ReportOptions(measure="RR@10", latency_stat="max", baseline="dense"))
    assert (view.measure, view.stat, view.datasets[0].baseline) == ("RR@10", "max", "dense")
    assert report_options(results, measure="RR@10").measure == "RR@10"
    # Stored settings are typed: a results.json with an unknown report key is refused on load.
    tampered = results.to_dict()
    tampered["settings"]["report"]["colour"] = "red"
    with pytest.raises(DataError, match=r"'settings\.report\.colour': Extra inputs are not permitted"):
        ResultSet.from_dict(tampered)


def test_report_options_default_to_the_stored_settings() -> None:
    """`harness report` reads the spec's report: section from results.json's settings, not
    from the raw spec in the manifest; command-line options win."""
    stored = Settings(report=ReportConfig(measure="RR@10", latency="p90", baseline="dense"))
    results = make_results().model_copy(
        update={"settings": stored, "manifest": Manifest(spec={"report": {"measure": "nDCG@10"}})}
    )
    opts = report_options(results)
    assert (opts.measure, opts.latency_stat, opts.baseline) == ("RR@10", "p90", "dense")
    opts = report_options(results, measure="nDCG@10", latency_stat="max")
    assert (opts.measure, opts.latency_stat, opts.baseline) == ("nDCG@10", "max", "dense")


def test_unmeasured_cells_are_listed_not_plotted() -> None:
    r = make_results()
    cells = [c.model_copy(update={"timing": None}) if c.system == "dense" else c for c in r.cells]
    view = build(r.model_copy(update={"cells": cells}), ReportOptions())
    assert view.datasets[0].unplotted == ["dense"]
    assert "dense" not in [p.system for p in view.datasets[0].points if p.on_front]


def test_the_report_reads_results_only() -> None:
    # The report must be writable from results.json on a machine without the models, data
    # or systems the experiment ran with, so it imports none of them (nor the runner, spec or cache).
    modules = ["build", "html", "markdown", "plots", "options", "rows", "tradeoff", "view", "formatting"]
    code = (
        "import sys, harness.compare\n"
        + "".join(f"import harness.report.{m}\n" for m in modules)
        + "print(' '.join(sorted(m for m in sys.modules if m.startswith('harness'))))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    loaded = res.stdout.split()
    forbidden = ("runner", "spec", "plan", "systems", "models", "data", "cache")
    assert [m for m in loaded if m.partition(".")[2].split(".")[0] in forbidden] == []
    assert "harness.report.build" in loaded


# ------------------------------------------------------------------ files


def _write(tmp: Path) -> tuple[Path, list[Path]]:
    files = write_report(make_results(), tmp / "report.html")
    return files.html, files.plots


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made results' report, written once for the read-only tests."""
    return _write(tmp_path_factory.mktemp("report"))[0]


def test_report_files_are_written_and_deterministic(tmp_path: Path) -> None:
    html, plots = _write(tmp_path / "a")
    html2, _ = _write(tmp_path / "b")
    names = sorted(p.name for p in plots)
    assert names == sorted(
        f"{d}-{k}.{e}"
        for d in ("dsA", "ds_b_onmouseover=alert_1______x__")  # harness.names.slug, as run files
        for k in ("tradeoff", "winloss")
        for e in ("png", "svg")
    )
    for p in plots:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert ET.fromstring(p.read_bytes()).tag.endswith("svg")
        assert p.read_bytes() == (tmp_path / "b" / "plots" / p.name).read_bytes(), p.name
    assert html.read_bytes() == html2.read_bytes()
    md = html.with_suffix(".md").read_text()
    assert md == html2.with_suffix(".md").read_text()
    assert "| dsA | nDCG@10 | dense | 0.6500 |" in md
    assert "| dense | **0.6500** ▲ |" in md
    assert "(plots/dsA-tradeoff.png)" in md


def _parse(html: str) -> tuple[list[str], list[str]]:
    """Tag names and attribute names of a document, as a browser's tokenizer sees them."""
    from html.parser import HTMLParser

    tags: list[str] = []
    attrs: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
            tags.append(tag)
            attrs.extend(name for name, _ in attributes)

    Collect().feed(html)
    return tags, attrs


def test_html_is_self_contained_and_escaped(written: Path) -> None:
    html_path = written
    html = html_path.read_text()
    assert "<script" not in html.lower()
    tags, attrs = _parse(html)
    assert "script" not in tags
    assert not [a for a in attrs if a.startswith("on")]  # no event-handler attribute
    assert tags.count("table") >= 7
    assert "&lt;script&gt;document.documentElement.setAttribute(&#39;data-xss&#39;,&#39;1&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;" in html  # query id in the win/loss table
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # no network asset
    svgs = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(svgs) == 4  # trade-off and win/loss per dataset
    for blob in svgs:  # the SVG escapes the labels as well
        root = ET.fromstring(base64.b64decode(blob))
        assert not [e for e in root.iter() if e.tag.endswith("script")]
    for section in ("summary", "effectiveness", "tradeoffs", "latency", "costs", "environment", "manifest"):
        assert f'<section id="{section}">' in html
    md = html_path.with_suffix(".md").read_text()
    assert "<script" not in md
    assert "&lt;script&gt;" in md


# ------------------------------------------------------------------ CLI


def test_cli_report_options_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_results().save(tmp_path)
    out = tmp_path / "custom" / "r.html"
    assert main(["report", str(tmp_path), "-o", str(out), "--latency", "p95", "-m", "RR@10"]) == 0
    assert out.is_file()
    assert out.with_suffix(".md").is_file()
    assert (out.parent / "plots" / "dsA-tradeoff.svg").is_file()
    assert "RR@10 vs p95 latency" in (out.parent / "plots" / "dsA-tradeoff.svg").read_text()
    assert main(["report", str(tmp_path), "-m", "nope@3"]) == 2
    assert "measure 'nope@3' is not in the results" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2


# ------------------------------------------------------------------ browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(page: Path, tmp: Path, screenshot: Path) -> tuple[str, list[str]]:
    """(DOM after load, console messages) of a page rendered by headless Chromium."""
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-extensions",
        "--hide-scrollbars",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,2400",
        f"--screenshot={screenshot}",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    console = [line for line in res.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return res.stdout, console


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium; .ci/run does)")
def test_html_renders_in_chromium_without_errors(tmp_path: Path, written: Path) -> None:
    # The detector itself: a page with a script error must be caught.
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>noSuchFunction()</script></body></html>")
    _, console = _chromium(bad, tmp_path, tmp_path / "bad.png")
    assert any("noSuchFunction" in line for line in console)

    shot = tmp_path / "report-screenshot.png"
    dom, console = _chromium(written, tmp_path, shot)
    assert console == []
    assert 'data-xss="1"' not in dom  # neither payload ran
    assert "<script" not in dom.lower()
    tables = ("summary", "effectiveness", "significance", "winloss", "latency", "costs", "environment", "manifest")
    for table in tables:
        assert f'<table class="{table}">' in dom, table
    assert dom.count('<img class="plot"') == 4
    assert "&lt;script&gt;document.documentElement" in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_cost_rows_prefer_the_stage_figures() -> None:
    r = make_results()
    ds = build(r, ReportOptions()).datasets[0]
    row = ds.cost_rows[0]
    assert (row["system"], row["stage"], row["build_s"], row["cached"]) == ("bm25@k1=0.9", "bm25", 2.0, False)
    assert row["docs_per_s"] == pytest.approx(500.0)  # 1000 docs / 2 s recorded build
    assert (row["index_bytes"], row["rss_delta_bytes"], row["peak_rss_bytes"]) == (4096, 2048, 10 << 20)
    assert r.cells[0].timing is not None
    timing = r.cells[0].timing.to_dict()
    timing["stages"][0]["costs"].update({"docs_per_s": 123.0, "model_sha256": "a" * 64, "encode_s": 1.23456})
    timing["stages"][0]["cached"] = True
    cells = [r.cells[0].model_copy(update={"timing": Timing.from_dict(timing)}), *r.cells[1:]]
    row = build(r.model_copy(update={"cells": cells}), ReportOptions()).datasets[0].cost_rows[0]
    assert row["docs_per_s"] == 123.0
    assert row["cached"] is True
    assert row["extra"] == "encode_s=1.235, model_sha256=aaaaaaaaaaaa…"


def test_cost_rows_show_precision_tokens_per_second_and_the_share_of_gemm_peak() -> None:
    r = make_results()
    assert r.cells[0].timing is not None
    timing = r.cells[0].timing.to_dict()
    timing["stages"][0]["costs"].update({"precision": "bf16", "tokens_per_s": 20_512.4, "peak_fraction": 0.3263})
    cells = [r.cells[0].model_copy(update={"timing": Timing.from_dict(timing)}), *r.cells[1:]]
    results = r.model_copy(update={"cells": cells})
    row = build(results, ReportOptions()).datasets[0].cost_rows[0]
    assert (row["precision"], row["tokens_per_s"], row["peak_fraction"]) == ("bf16", 20_512.4, 0.3263)
    assert "precision" not in row["extra"]
    html = render_html(build(results, ReportOptions()), [])
    assert "<td>20,512</td><td>33%</td>" in html


def test_a_two_parameter_sweep_gives_one_curve_per_fixed_value() -> None:
    grid = [(k1, b) for k1 in (0.9, 1.2) for b in (0.75, 0.4)]
    qids = ["q1", "q2"]
    cells = [_cell("ds", f"bm25@k1={k1},b={b}", [k1 * b, k1 * b], 1.0 + k1 + b, qids) for k1, b in grid]
    systems = {
        c.system: SystemInfo(base="bm25", config=[], sweep={"k1": k1, "b": b})
        for c, (k1, b) in zip(cells, grid, strict=True)
    }
    view = build(
        ResultSet(experiment="grid", measures=["nDCG@10", "RR@10"], systems=systems, cells=cells), ReportOptions()
    )
    curves = view.datasets[0].curves
    assert [c.label for c in curves] == ["bm25 (b; k1=0.9)", "bm25 (b; k1=1.2)"]
    assert [[p.system for p in c.points] for c in curves] == [
        ["bm25@k1=0.9,b=0.4", "bm25@k1=0.9,b=0.75"],
        ["bm25@k1=1.2,b=0.4", "bm25@k1=1.2,b=0.75"],
    ]
    assert curves[0].points[0].label == "b=0.4"


def test_systems_reading_other_runs_include_their_latency() -> None:
    r = make_results()
    qids = ["q1", "q2", XSS_QUERY, "q4"]
    fused = _cell("dsA", "rrf", [0.7, 0.7, 0.7, 0.7], 0.5, qids)
    fused = _depends(fused, "bm25@k1=0.9", "dense")
    reads_sweep = _depends(_cell("dsA", "bm25-ce", [0.2, 0.2, 0.2, 0.2], 0.5, qids), "bm25")  # 3 variants
    results = r.model_copy(update={"cells": [*r.cells, fused, reads_sweep]})
    ds = build(results, ReportOptions()).datasets[0]
    row = next(x for x in ds.latency_rows if x["system"] == "rrf")
    assert row["inputs"] == ["bm25@k1=0.9", "dense"]
    assert row["stats"]["p50"] == pytest.approx(0.5 + 2.0 + 20.0)  # its own + both inputs, per query
    assert row["cpu_p50"] == pytest.approx((0.5 + 2.0 + 20.0) / 2)  # CPU time likewise end to end
    assert row["qps"] == pytest.approx(4 / (4 * 0.0005 + 4 * 0.002 + 4 * 0.020))
    point = next(p for p in ds.points if p.system == "rrf")
    assert point.x == pytest.approx(22.5)
    assert point.on_front  # 0.7 at 22.5 ms beats dense (0.65 at 20 ms) on quality
    ce = next(x for x in ds.latency_rows if x["system"] == "bm25-ce")
    assert (ce["inputs"], ce["inputs_complete"]) == (["bm25"], False)
    assert set(ce["stats"].values()) == {None}
    assert "bm25-ce" in ds.unplotted


def test_a_report_baseline_other_than_the_stored_one_recomputes_the_markers() -> None:
    # Regression: `harness report DIR --baseline dense` labelled dense "significantly better
    # than" the baseline while its markers came from comparisons against bm25@k1=0.9.
    r = make_results()
    assert r.comparisons["baseline"] == "bm25@k1=0.9"
    stored = build(r, ReportOptions()).datasets[0]
    assert any(row["system"] == "dense" for row in stored.significance)
    ds = build(r, ReportOptions(baseline="dense")).datasets[0]
    assert ds.baseline == "dense"
    assert ds.significance
    assert {row["baseline"] for row in ds.significance} == {"dense"}
    assert "dense" not in {row["system"] for row in ds.significance}
    assert not any(system == "dense" for system, _ in ds.markers)
