"""The report: HTML (tables and plots, self-contained), PNG/SVG plots and a Markdown summary.

Everything is computed from a ResultSet (results.json) alone. Heavy dependencies (jinja2,
matplotlib) are imported only when a report is written; they come with the `plots` extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.fsutil import ANYWHERE, Destination
from harness.report.options import ReportOptions, report_options
from harness.results import ResultSet

__all__ = ["ReportFiles", "ReportOptions", "missing_dependencies", "report_options", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)


def missing_dependencies() -> list[str]:
    """The packages of the `plots` extra that are not installed."""
    import importlib.util

    return [name for name in ("jinja2", "matplotlib") if importlib.util.find_spec(name) is None]


def write_report(
    results: ResultSet,
    html_path: Path,
    options: ReportOptions | None = None,
    *,
    markdown_path: Path | None = None,
    plots_dir: Path | None = None,
    dest: Destination = ANYWHERE,
) -> ReportFiles:
    """Write the HTML report, its plots (PNG and SVG) and a Markdown summary: all of them or,
    if one cannot be written, none (the destinations are checked before anything is rendered).

    Defaults: Markdown next to the HTML (same name, `.md`), plots in `plots/` beside it.
    """
    missing = missing_dependencies()
    if missing:
        raise HarnessError(
            f"the report needs {', '.join(missing)}",
            hint="pip install 'harness[plots]'",
        )
    from harness.fsutil import atomic_write_many, writable_file
    from harness.report.build import build
    from harness.report.html import render_html
    from harness.report.markdown import render_markdown
    from harness.report.plots import render_plots

    md_path = markdown_path or html_path.with_suffix(".md")
    pdir = plots_dir or html_path.parent / "plots"
    for target in (html_path, md_path, pdir / "plot.svg"):
        writable_file(target, dest)
    opts = options or ReportOptions()
    view = build(results, opts)
    plots = render_plots(view)
    files: dict[Path, bytes] = {}
    for plot in plots:
        files[pdir / f"{plot.name}.svg"] = plot.svg
        files[pdir / f"{plot.name}.png"] = plot.png
    written = list(files)
    files[html_path] = render_html(view, plots).encode("utf-8")
    rel = _relative(pdir, md_path.parent)
    files[md_path] = render_markdown(view, plots, plots_href=rel).encode("utf-8")
    atomic_write_many(files, dest)
    return ReportFiles(html_path, md_path, written)


def _relative(target: Path, start: Path) -> str:
    import os

    try:
        return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return target.resolve().as_posix()
