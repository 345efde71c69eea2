"""`harness report RESULTS_DIR`: regenerate the HTML report, plots and Markdown from results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

# harness.sections.STATISTICS, written out: importing it here would load pydantic with every
# `harness` call. tests/unit/test_cli_misc.py keeps the two equal.
LATENCY_STATISTICS = ("mean", "p50", "p90", "p95", "p99", "max")


def report(
    results_dir: Annotated[
        Path, typer.Argument(metavar="RESULTS_DIR", help="folder holding results.json (or the file)")
    ],
    output: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
        typer.Option("-o", "--output", help="HTML file to write (default RESULTS_DIR/report.html)"),
    ] = None,
    markdown: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--markdown", help="Markdown summary to write (default: the HTML path with .md)"),
    ] = None,
    plots: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--plots", help="folder for PNG and SVG plots (default: plots/ beside the HTML)"),
    ] = None,
    measure: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("-m", "--measure", help="measure on the y axis and in win/loss (default nDCG@10)"),
    ] = None,
    latency: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--latency", help=f"latency statistic on the x axis: {', '.join(LATENCY_STATISTICS)} (default p50)"
        ),
    ] = None,
    baseline: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--baseline", help="system for per-query win/loss (default: spec compare.baseline, else first)"),
    ] = None,
    scope: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--scope",
            help="what the latencies cover: end-to-end, or search-only (without query encoding; "
            "default: the spec's report.scope, else end-to-end)",
        ),
    ] = None,
) -> None:
    """Write the report (HTML, PNG and SVG plots, Markdown) from results.json alone."""
    from harness.report import report_options, write_report
    from harness.results import ResultSet

    results = ResultSet.load(results_dir)
    folder = results_dir if results_dir.is_dir() else results_dir.parent
    html_path = output or folder / "report.html"
    files = write_report(
        results,
        html_path,
        report_options(results, measure=measure, latency_stat=latency, baseline=baseline, scope=scope),
        markdown_path=markdown,
        plots_dir=plots,
    )
    typer.echo(f"report: {files.html}")
    typer.echo(f"summary: {files.markdown}")
    typer.echo(f"plots: {len(files.plots)} files in {files.plots[0].parent if files.plots else '-'}")
