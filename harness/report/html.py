"""One self-contained HTML file: inline CSS, plots as data: URIs, no script, no network.

Every string from a spec or dataset (system, dataset and query names) goes through jinja2's
autoescape; nothing is marked safe except the base64 of the plots this module encodes.
"""

from __future__ import annotations

import base64
from typing import Any

from harness.report.formatting import fmt_bytes, fmt_measure, fmt_ms, fmt_p, fmt_percent, fmt_rate, fmt_s
from harness.report.plots import Plot
from harness.report.view import ReportView
from harness.sections import STATISTICS


def _data_uri(plot: Plot) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(plot.svg).decode("ascii")


def render_html(view: ReportView, plots: list[Plot]) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    filters: dict[str, Any] = {
        "measure": fmt_measure,
        "ms": fmt_ms,
        "secs": fmt_s,
        "rate": fmt_rate,
        "percent": fmt_percent,
        "bytes": fmt_bytes,
        "pvalue": fmt_p,
    }
    env.filters.update(filters)
    by_dataset: dict[str, dict[str, Plot]] = {}
    for p in plots:
        by_dataset.setdefault(p.dataset, {})[p.kind] = p
    template = env.get_template("report.html.j2")
    return template.render(
        view=view,
        plots=by_dataset,
        data_uri=_data_uri,
        statistics=STATISTICS,
    )
