"""A Markdown summary for CI job summaries (GitHub renders HTML in it, so text is escaped)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from harness.report.formatting import fmt_measure, fmt_ms, fmt_rate
from harness.report.plots import Plot
from harness.report.view import DatasetView, ReportView


def md_text(value: object) -> str:
    """Escape a value for a Markdown table cell: HTML-escaped, pipes and newlines neutralised."""
    text = html.escape(str(value), quote=True)
    for ch in "\\`*_[]|":
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> list[str]:
    align = ["---" if i < right else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _online_lines(ds: DatasetView) -> list[str]:
    o = ds.online
    if o is None:
        return []
    agreement = "; ".join(
        f"{md_text(a.method)} / {md_text(a.click_model)} {a.agree} of {a.pairs}"
        + (f" ({a.significant_agree} of the {a.significant_pairs} significant)" if a.significant_pairs else "")
        for a in o.agreement
    )
    lines = [
        "",
        f"Simulated interleaving, sign agreement with offline {md_text(o.measure)}: {agreement}. "
        "Preference: mean outcome per impression for B in [-1, 1] with its bootstrap interval; "
        "(sig.): the offline difference is significant (paired t-test, Holm); needed: impressions to detect it. "
        "The A/B tables and the click models are in report.html.",
        "",
    ]
    rows = [
        [
            md_text(r.a),
            md_text(r.b),
            f"{r.offline_difference:+.4f}" + (" (sig.)" if r.significant else ""),
            md_text(r.method),
            md_text(r.click_model),
            f"{r.preference:+.4f} [{r.low:+.4f}, {r.high:+.4f}]",
            str(r.needed) if r.needed is not None else "—",
        ]
        for r in o.interleaving
    ]
    header = [
        "A",
        "B",
        f"Δ {md_text(o.measure)}",
        "method",
        "click model",
        "preference [interval]",
        "impressions needed",
    ]
    return lines + _table(header, rows, right=2)


def render_markdown(view: ReportView, plots: Sequence[Plot], plots_href: str = "plots") -> str:
    out = [f"# {md_text(view.experiment)}", ""]
    out += ["## Best system per dataset and measure", ""]
    out += _table(
        ["dataset", "measure", "best system", "value"],
        [
            [md_text(r["dataset"]), md_text(r["measure"]), md_text(", ".join(r["systems"])), fmt_measure(r["value"])]
            for r in view.summary
        ],
        right=3,
    )
    for ds in view.datasets:
        out += ["", f"## {md_text(ds.name)}", ""]
        scope = "search " if view.scope == "search-only" else ""
        header = [
            "system",
            *(md_text(m) for m in view.measures),
            f"{scope}p50 ms",
            f"{scope}p95 ms",
            "batch q/s",
            "timing",
        ]
        rows = []
        for c, lat in zip(ds.cells, ds.latency_rows, strict=True):
            values = []
            for m in view.measures:
                v = fmt_measure(c.aggregate.get(m))
                v = f"**{v}**" if m in ds.best and c.aggregate.get(m) == ds.best[m] else v
                values.append(v + (" " + ds.markers[(c.system, m)] if (c.system, m) in ds.markers else ""))
            name = md_text(c.system) + (" (resumed)" if c.resumed else "")
            timing = ("noisy: " if lat["noisy"] else "") + md_text(lat["noise"]) if lat["noise"] else ""
            stats = [fmt_ms(lat["stats"]["p50"]), fmt_ms(lat["stats"]["p95"]), fmt_rate(lat["qps"]), timing]
            rows.append([name, *values, *stats])
        out += _table(header, rows)
        if any(lat["noisy"] for lat in ds.latency_rows):
            out += [
                "",
                "noisy: every timing pass of that cell was disturbed by the machine; its latency is not a fact.",
            ]
        front = sorted((p for p in ds.points if p.on_front), key=lambda p: p.x or 0.0)
        if front:
            chain = " → ".join(
                f"{md_text(p.system)}{' (noisy)' if p.noisy else ''} ({fmt_ms(p.x)} ms, {fmt_measure(p.y)})"
                for p in front
            )
            scope = " search-only" if view.scope == "search-only" else ""
            out += ["", f"Pareto frontier ({md_text(view.measure)} vs {view.stat}{scope} latency): {chain}"]
        if ds.winloss:
            wl = "; ".join(f"{md_text(r.system)} {r.wins}/{r.ties}/{r.losses}" for r in ds.winloss)
            out += ["", f"Wins/ties/losses on {md_text(view.measure)} against {md_text(ds.baseline)}: {wl}"]
        out += _online_lines(ds)
        files = [p for p in plots if p.dataset == ds.name]
        if files:
            out += ["", "Plots: " + ", ".join(f"[{p.kind}]({plots_href}/{p.name}.png)" for p in files)]
    out += ["", f"Latency: {md_text(view.latency_note)}", "", md_text(view.offline_note)]
    return "\n".join(out) + "\n"
