"""The standard click-model parameters for graded judgments, scaled to a judgment scale.

The perfect / navigational / informational presets are those of Hofmann, Whiteson and de Rijke,
"Fidelity, soundness, and efficiency of interleaved comparison methods", ACM TOIS 31(4), 2013
(binary and three-grade tables), extended to five grades by Oosterhuis and de Rijke,
"Differentiable unbiased online learning to rank", CIKM 2018 (Table 1), the tables the online
learning-to-rank literature simulates with: P(click | examined, grade) and P(stop | click, grade).

A scale those papers have no table for (TREC DL's 0-3) takes the five-grade table read at the
same relative grade, linearly interpolated; the values used are stored with every result.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.sections import ClickPreset

_CLICK: dict[ClickPreset, dict[int, tuple[float, ...]]] = {
    "perfect": {1: (0.0, 1.0), 2: (0.0, 0.5, 1.0), 4: (0.0, 0.2, 0.4, 0.8, 1.0)},
    "navigational": {1: (0.05, 0.95), 2: (0.05, 0.5, 0.95), 4: (0.05, 0.3, 0.5, 0.7, 0.95)},
    "informational": {1: (0.4, 0.9), 2: (0.4, 0.7, 0.9), 4: (0.4, 0.6, 0.7, 0.8, 0.9)},
}
_STOP: dict[ClickPreset, dict[int, tuple[float, ...]]] = {
    "perfect": {1: (0.0, 0.0), 2: (0.0, 0.0, 0.0), 4: (0.0, 0.0, 0.0, 0.0, 0.0)},
    "navigational": {1: (0.2, 0.9), 2: (0.2, 0.5, 0.9), 4: (0.2, 0.3, 0.5, 0.7, 0.9)},
    "informational": {1: (0.1, 0.5), 2: (0.1, 0.3, 0.5), 4: (0.1, 0.2, 0.3, 0.4, 0.5)},
}
_PAPERS = {
    1: "Hofmann et al., TOIS 2013",
    2: "Hofmann et al., TOIS 2013",
    4: "Oosterhuis and de Rijke, CIKM 2018",
}


@dataclass(frozen=True)
class PresetTables:
    attractiveness: tuple[float, ...]
    stop: tuple[float, ...]
    source: str


def _scaled(table: tuple[float, ...], top_grade: int) -> tuple[float, ...]:
    """`table` (grades 0 .. len-1) read at grade g * (len-1) / top_grade for g = 0 .. top_grade."""
    last = len(table) - 1
    out = []
    for g in range(top_grade + 1):
        x = g * last / top_grade
        lo = min(int(x), last - 1)
        frac = x - lo
        out.append(round(table[lo] + (table[lo + 1] - table[lo]) * frac, 10))
    return tuple(out)


def preset_tables(preset: ClickPreset, top_grade: int) -> PresetTables:
    """The preset's per-grade click and stop probabilities for grades 0 .. top_grade."""
    if top_grade in _CLICK[preset]:
        return PresetTables(
            _CLICK[preset][top_grade],
            _STOP[preset][top_grade],
            f"preset {preset}, {top_grade + 1}-grade table of {_PAPERS[top_grade]}",
        )
    return PresetTables(
        _scaled(_CLICK[preset][4], top_grade),
        _scaled(_STOP[preset][4], top_grade),
        f"preset {preset}, the 5-grade table of {_PAPERS[4]} interpolated to grades 0-{top_grade}",
    )
