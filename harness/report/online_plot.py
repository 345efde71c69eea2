"""The online section's plot: each pair's interleaving preference against its offline
difference, one series per interleaving method and click model, with the agreement rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.report.view import DatasetView, ReportView

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_COLOURS = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#ad1457", "#9e9d24")
_MARKERS = {"team-draft": "o", "balanced": "s", "probabilistic": "^"}


def online_figure(ds: DatasetView, view: ReportView) -> Figure | None:
    from matplotlib.figure import Figure

    data = ds.online
    if data is None or not data.interleaving:
        return None
    series = list(dict.fromkeys((r.method, r.click_model) for r in data.interleaving))
    models = list(dict.fromkeys(m for _, m in series))
    fig = Figure(figsize=(7.0, 4.6 + 0.16 * len(series)))
    ax = fig.add_subplot()
    ax.axhline(0.0, color="#9e9e9e", linewidth=0.8)
    ax.axvline(0.0, color="#9e9e9e", linewidth=0.8)
    for method, model in series:
        rows = [r for r in data.interleaving if (r.method, r.click_model) == (method, model)]
        colour = _COLOURS[models.index(model) % len(_COLOURS)]
        xs = [r.offline_difference for r in rows]
        ys = [r.preference for r in rows]
        err = [[r.preference - r.low for r in rows], [r.high - r.preference for r in rows]]
        ax.errorbar(xs, ys, yerr=err, fmt="none", ecolor=colour, elinewidth=0.8, alpha=0.6)
        ax.scatter(
            xs,
            ys,
            s=28,
            marker=_MARKERS.get(method, "D"),
            facecolors=[colour if r.significant else "white" for r in rows],
            edgecolors=colour,
            label=f"{method}, {model}",
            zorder=3,
        )
    agreement = [f"{a.method} / {a.click_model}: {a.agree} of {a.pairs}" for a in data.agreement if a.pairs]
    ax.set_xlabel(f"offline difference B − A ({data.measure})")
    ax.set_ylabel("interleaving preference for B")
    ax.set_title(f"{ds.name}: interleaving preference against the offline difference")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="method, click model")
    fig.text(0.01, 0.0, "sign agreement: " + "; ".join(agreement), fontsize=7, va="top", wrap=True)
    return fig
