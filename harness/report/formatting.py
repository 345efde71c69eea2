"""Numbers as the report's tables print them ('—' where there is none), shared by HTML and Markdown."""

from __future__ import annotations

import math
from typing import Any


def fmt_measure(v: Any) -> str:
    return f"{float(v):.4f}" if isinstance(v, (int, float)) and math.isfinite(float(v)) else "—"


def fmt_p(v: Any) -> str:
    if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        return "—"
    return f"{float(v):.2g}" if v < 0.001 else f"{float(v):.3f}"


def fmt_ms(v: Any) -> str:
    if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        return "—"
    v = float(v)
    if v >= 100:
        return f"{v:.0f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_s(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "—"
    return f"{float(v):.3f}" if v < 100 else f"{float(v):.0f}"


def fmt_rate(v: Any) -> str:
    if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        return "—"
    return f"{float(v):,.0f}" if v >= 100 else f"{float(v):.1f}"


def fmt_percent(v: Any) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(float(v)):
        return "—"
    return f"{100 * float(v):.0f}%"


def fmt_bytes(v: Any) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return "—"
    n = float(v)
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    return f"{sign}{n:.1f} TiB"  # pragma: no cover
