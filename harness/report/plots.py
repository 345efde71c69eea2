"""Matplotlib plots (Agg, imported lazily): latency-versus-quality trade-offs and win/loss.

Output is deterministic (no dates in SVG metadata, fixed SVG id salt), so the same
results.json always gives byte-identical files.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from harness.names import unique_slugs
from harness.report.view import DatasetView, Point, ReportView

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_STYLE = {
    "svg.hashsalt": "harness-report",
    "svg.fonttype": "none",
    "text.parse_math": False,  # names with '$' are text, not TeX
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_WIN, _TIE, _LOSS = "#2e7d32", "#bdbdbd", "#c62828"


@dataclass(frozen=True)
class Plot:
    name: str
    """File stem (slugged, unique)."""
    dataset: str
    kind: str
    """'tradeoff', 'winloss' or 'online'."""
    title: str
    svg: bytes
    png: bytes


def _x(p: Point) -> float:
    return p.x if p.x is not None else math.nan


def _save(fig: Figure) -> tuple[bytes, bytes]:
    svg, png = io.BytesIO(), io.BytesIO()
    fig.savefig(svg, format="svg", metadata={"Date": None}, bbox_inches="tight")
    fig.savefig(png, format="png", dpi=110, metadata={"Software": None}, bbox_inches="tight")
    return svg.getvalue(), png.getvalue()


def _tradeoff_figure(ds: DatasetView, view: ReportView) -> Figure | None:
    from matplotlib.figure import Figure

    pts = [p for p in ds.points if p.x is not None]
    if not pts:
        return None
    fig = Figure(figsize=(7.0, 4.6))
    ax = fig.add_subplot()
    bases = list(dict.fromkeys(p.base for p in pts))
    cmap = [f"C{i % 10}" for i in range(len(bases))]
    colour = {b: cmap[i] for i, b in enumerate(bases)}
    curved = {c.base for c in ds.curves}
    for curve in ds.curves:
        ax.plot(
            [_x(p) for p in curve.points],
            [p.y for p in curve.points],
            "-",
            color=colour[curve.base],
            alpha=0.6,
            linewidth=1.2,
            zorder=2,
            label=curve.label or curve.base,
        )
    for base in bases:
        group = [p for p in pts if p.base == base]
        ax.scatter(
            [_x(p) for p in group],
            [p.y for p in group],
            s=28,
            # a latency timed on a busy machine is drawn hollow: shown, but not as a fact
            c=["white" if p.noisy else colour[base] for p in group],
            zorder=3,
            label=None if base in curved else base,
            edgecolors=[colour[base] if p.noisy else "white" for p in group],
            linewidths=[1.2 if p.noisy else 0.5 for p in group],
        )
    front = sorted((p for p in pts if p.on_front), key=lambda p: (_x(p), -p.y))
    if front:
        ax.plot(
            [_x(p) for p in front],
            [p.y for p in front],
            drawstyle="steps-post",
            linestyle="--",
            color="black",
            linewidth=1.0,
            alpha=0.8,
            zorder=1,
            label="Pareto frontier",
        )
        ax.scatter(
            [_x(p) for p in front],
            [p.y for p in front],
            s=90,
            facecolors="none",
            edgecolors="black",
            linewidths=0.8,
            zorder=4,
        )
    ax.set_xscale("log")
    _plain_log_ticks(ax, [_x(p) for p in pts])
    scope = ", search only" if view.scope == "search-only" else ""
    ax.set_xlabel(f"latency per query, {view.stat}{scope} (ms, log scale)")
    ax.set_ylabel(view.measure)
    ax.set_title(f"{ds.name}: {view.measure} vs {view.stat} {'search ' if scope else ''}latency")
    ax.grid(True, which="both", alpha=0.25, linewidth=0.5)
    ax.legend(fontsize=7, loc="best", frameon=False)
    _label(fig, ax, pts)
    return fig


def _label(fig: Figure, ax: Any, pts: list[Point]) -> None:
    """Label every point; a label that would overlap one already placed moves up or down
    (with a thin leader line) until it fits, so clustered sweep points stay readable."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = cast(Any, FigureCanvasAgg(fig)).get_renderer()
    placed: list[Any] = []
    step = 9.0  # points: about one 7 pt line
    for p in sorted(pts, key=lambda q: (_x(q), q.y)):
        ann = ax.annotate(
            p.label,
            (_x(p), p.y),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7,
            zorder=5,
            arrowprops={"arrowstyle": "-", "color": "0.55", "linewidth": 0.4, "shrinkA": 0, "shrinkB": 3},
        )
        for k in range(1, 16):
            box = _text_box(ann, renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            ann.xyann = (4, 4 + step * ((k + 1) // 2) * (1 if k % 2 else -1))
        placed.append(_text_box(ann, renderer))


def _text_box(ann: Any, renderer: Any) -> Any:
    """The label's text extent in display units, without its leader line."""
    from matplotlib.text import Text

    ann.update_positions(renderer)
    return Text.get_window_extent(ann, renderer)


def _plain_log_ticks(ax: Any, xs: list[float]) -> None:
    """Tick labels as plain numbers (2, 5, 10, not 2x10^0); minor labels only within a decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    lo, hi = min(xs), max(xs)
    if hi / lo >= 10:  # label 1, 2, 5 of each decade, up to three decades
        subs = (1.0, 2.0, 5.0) if hi / lo < 1000 else (1.0,)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_minor_formatter(plain)
    ax.xaxis.set_major_formatter(plain)


def _winloss_figure(ds: DatasetView, view: ReportView) -> Figure | None:
    from matplotlib.figure import Figure

    rows = ds.winloss
    if not rows:
        return None
    fig = Figure(figsize=(7.0, 0.9 + 0.35 * len(rows)))
    ax = fig.add_subplot()
    ys = list(range(len(rows)))[::-1]
    wins = [r.wins for r in rows]
    ties = [r.ties for r in rows]
    losses = [r.losses for r in rows]
    ax.barh(ys, wins, color=_WIN, label="wins")
    ax.barh(ys, ties, left=wins, color=_TIE, label="ties")
    ax.barh(ys, losses, left=[w + t for w, t in zip(wins, ties, strict=True)], color=_LOSS, label="losses")
    for y, r in zip(ys, rows, strict=True):
        total = r.wins + r.ties + r.losses
        ax.text(total, y, f"  {r.wins}/{r.ties}/{r.losses}", va="center", fontsize=7)
    ax.set_yticks(ys)
    ax.set_yticklabels([r.system for r in rows], fontsize=7)
    ax.set_xlabel(f"queries (per-query {view.measure} against {ds.baseline})")
    ax.set_title(f"{ds.name}: wins / ties / losses against {ds.baseline}")
    ax.set_xlim(0, max(r.wins + r.ties + r.losses for r in rows) * 1.18)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig


def render_plots(view: ReportView) -> list[Plot]:
    import matplotlib

    # Figures are built without pyplot, so no GUI backend is ever selected: savefig renders
    # with Agg (PNG) and the SVG backend directly.
    stems = unique_slugs([ds.name for ds in view.datasets])
    from harness.report.online_plot import online_figure

    makers: dict[str, Any] = {"tradeoff": _tradeoff_figure, "winloss": _winloss_figure, "online": online_figure}
    plots: list[Plot] = []
    with matplotlib.rc_context(cast(Any, _STYLE)):
        for ds in view.datasets:
            for kind, make in makers.items():
                fig = make(ds, view)
                if fig is None:
                    continue
                svg, png = _save(fig)
                title = fig.axes[0].get_title()
                plots.append(Plot(f"{stems[ds.name]}-{kind}", ds.name, kind, title, svg, png))
    return plots
