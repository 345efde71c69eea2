"""The online section's plot: each pair's interleaving preference against its offline
difference, one series per interleaving method and click model, with the agreement rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.report.view import DatasetView, ReportView

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_COLOURS = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f")


def online_figure(ds: DatasetView, view: ReportView) -> Figure | None:
    from matplotlib.figure import Figure

    data = ds.online
    if data is None or not data.interleaving:
        return None
    fig = Figure(figsize=(7.0, 4.6))
    ax = fig.add_subplot()
    ax.axhline(0.0, color="#9e9e9e", linewidth=0.8)
    ax.axvline(0.0, color="#9e9e9e", linewidth=0.8)
    series = list(dict.fromkeys((r.method, r.click_model) for r in data.interleaving))
    for i, key in enumerate(series):
        rows = [r for r in data.interleaving if (r.method, r.click_model) == key]
        colour = _COLOURS[i % len(_COLOURS)]
        xs = [r.offline_difference for r in rows]
        ys = [r.preference for r in rows]
        err = [[r.preference - r.low for r in rows], [r.high - r.preference for r in rows]]
        ax.errorbar(xs, ys, yerr=err, fmt="none", ecolor=colour, elinewidth=0.8, alpha=0.6)
        filled = [r.significant for r in rows]
        ax.scatter(
            xs,
            ys,
            s=28,
            facecolors=[colour if f else "white" for f in filled],
            edgecolors=colour,
            label=f"{key[0]}, {key[1]}",
            zorder=3,
        )
    agreement = "; ".join(f"{a.method}/{a.click_model} {a.agree}/{a.pairs}" for a in data.agreement if a.pairs)
    ax.set_xlabel(f"offline difference B - A ({data.measure})")
    ax.set_ylabel("interleaving preference for B")
    ax.set_title(f"{ds.name}: interleaving vs offline, sign agreement {agreement}")
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    return fig
