"""The gate's report as a text table, Markdown, JUnit XML and a JSON-able dict."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from harness.gate.outcome import Check, GateReport

_HEADER = ("check", "dataset", "system", "measure", "snapshot", "new", "delta", "CI", "p", "verdict", "why")
_VERDICT = _HEADER.index("verdict")


def _cells(c: Check) -> tuple[str, ...]:
    def f(x: float | None, signed: bool = False) -> str:
        if x is None:
            return ""
        return f"{x:+.4f}" if signed else f"{x:.4f}"

    ci = f"[{c.ci[0]:+.4f}, {c.ci[1]:+.4f}]" if c.ci else ""
    p = "" if c.p is None else f"{c.p:.3g}"
    return (
        c.kind,
        c.dataset,
        c.system,
        c.measure,
        f(c.snapshot),
        f(c.new),
        f(c.delta, True),
        ci,
        p,
        c.verdict,
        c.message,
    )


def _summary_line(report: GateReport) -> str:
    n = len(report.checks)
    failed = len(report.failures)
    skipped = len(report.skipped)
    state = "PASS" if report.passed else "FAIL"
    counts = f"{n - failed - skipped} passed, {failed} failed, {skipped} skipped"
    return f"gate {state}: {counts} (snapshot {report.snapshot_path})"


def format_table(report: GateReport) -> str:
    """The readable table: one line per check, then every failure's reason, then the summary."""
    rows = [_HEADER, *(_cells(c) for c in report.checks)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if report.failures:
        lines.append("")
        lines.append("failures:")
        lines.extend(f"  FAIL {c.name}: {c.message}" for c in report.failures)
    lines.append("")
    lines.append(_summary_line(report))
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(report: GateReport) -> str:
    """A Markdown summary (for a CI job summary or a pull-request comment)."""
    icon = "✅" if report.passed else "❌"
    out = [f"## {icon} {_summary_line(report)}", ""]
    if report.failures:
        out.append("### Failures")
        out.append("")
        out.extend(f"- **{_md_escape(c.name)}**: {_md_escape(c.message)}" for c in report.failures)
        out.append("")
    out.append("| " + " | ".join(_HEADER) + " |")
    out.append("|" + "|".join("---" for _ in _HEADER) + "|")
    for c in report.checks:
        cells = list(_cells(c))
        cells[_VERDICT] = f"**{c.verdict}**" if c.verdict == "FAIL" else c.verdict
        out.append("| " + " | ".join(_md_escape(v) for v in cells) + " |")
    r = report.rules
    out.append("")
    out.append(
        f"Rules: max_drop {r.max_drop}, margin {r.margin}, alpha {r.alpha:g} ({r.correction}), "
        f"exact {r.exact or 'none'}, latency ({r.latency.clock} clock, {r.latency.scope}, "
        f"{', '.join(r.latency.percentiles)}) growth "
        f"<= {r.latency.max_growth:.0%} or < {r.latency.min_delta_ms:g} ms per query"
    )
    return "\n".join(out) + "\n"


def format_junit(report: GateReport) -> str:
    """JUnit XML: one testcase per check, named after it; failures carry the reason."""
    suite = ET.Element(
        "testsuite",
        {
            "name": "harness-gate",
            "tests": str(len(report.checks)),
            "failures": str(len(report.failures)),
            "errors": "0",
            "skipped": str(len(report.skipped)),
        },
    )
    for c in report.checks:
        case = ET.SubElement(suite, "testcase", {"classname": f"gate.{c.kind}", "name": c.name})
        if c.verdict == "FAIL":
            fail = ET.SubElement(case, "failure", {"message": c.message, "type": c.kind})
            fail.text = "  ".join(f"{h}={v}" for h, v in zip(_HEADER, _cells(c), strict=True) if v)
        elif c.verdict == "SKIP":
            ET.SubElement(case, "skipped", {"message": c.message})
        else:
            out = ET.SubElement(case, "system-out")
            out.text = c.message
    root = ET.Element(
        "testsuites", {"name": "harness-gate", "tests": suite.get("tests", "0"), "failures": suite.get("failures", "0")}
    )
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def report_to_dict(report: GateReport) -> dict[str, Any]:
    return {
        "passed": report.passed,
        "snapshot": report.snapshot_path,
        "rules": report.rules.model_dump(mode="json"),
        "checks": [c.to_dict() for c in report.checks],
    }
