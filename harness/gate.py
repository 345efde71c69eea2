"""The regression gate: a results.json against a committed baseline, check by check.

Rules come from the spec's `gate:` section (also read back from results.json's manifest) and
from the command line (which wins). All keys are optional:

    gate:
      snapshot: experiments/baselines/ci-gate.json
      max_drop: 0.01               # largest allowed drop of an aggregate; or per measure:
                                   #   {nDCG@10: 0.005, default: 0.01}; null turns it off
      margin: 0.01                 # non-inferiority margin (same forms as max_drop)
      alpha: 0.05                  # for the non-inferiority tests
      correction: holm             # across every non-inferiority test of the gate
      exact: [bm25]                # deterministic systems: run hash or per-query values must match
      latency: {reference: bm25, max_growth: 0.5, percentiles: [p50], clock: cpu, min_delta_ms: 1.0}

Checks, each with a verdict PASS / FAIL / SKIP (SKIP never fails the gate):
- dataset: present in the results, same content fingerprint;
- cell: every baseline dataset x system is present;
- exact: for systems marked exact, identical run file or identical per-query values;
- effectiveness: per measure, aggregate drop <= max_drop, and the one-sided paired t-test of
  H0 "new <= baseline - margin" rejected at alpha after correction; a measure in the baseline
  but not in the results fails;
- latency: p50 (and/or p95) as a ratio to the reference system of the same run, end to end
  (a fusion includes its inputs), growth <= max_growth or an absolute change below the
  min_delta_ms noise floor; latency in the baseline but not in the results fails; none in
  either is a SKIP. `clock: cpu` (the default) compares per-query CPU time: on shared CI
  machines the wall-time ratio of two cells follows whatever else ran during each cell, the
  CPU-time ratio does not. `clock: wall` is for dedicated machines.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from harness.baseline import Baseline
from harness.errors import GateError
from harness.latency import pipeline_percentiles
from harness.results import ResultSet
from harness.sections import GateRules

Verdict = Literal["PASS", "FAIL", "SKIP"]
EXACT_TOL = 1e-12
_PERCENTILES: tuple[Literal["p50", "p95"], ...] = ("p50", "p95")


def parse_rules(raw: Mapping[str, Any] | None, *, source: str = "gate") -> GateRules:
    """Validate a `gate:` mapping; a GateError names the key and what is accepted."""
    try:
        return GateRules.model_validate(dict(raw or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise GateError(
                f"{source}: unknown key '{where}'", hint="valid keys: " + ", ".join(GateRules.model_fields)
            ) from None
        raise GateError(
            f"{source}.{where}: {err['msg']} (got {err.get('input')!r})",
            hint="see harness/gate.py for the rules and their defaults",
        ) from None


def merge_rules(*layers: Mapping[str, Any] | None) -> GateRules:
    """Later layers override earlier ones key by key. Thresholds merge per measure on top of the
    defaults: `max_drop: {nDCG@10: 0.005}` keeps the default for every other measure."""
    defaults = GateRules()
    merged: dict[str, Any] = {"max_drop": {"default": defaults.max_drop}, "margin": {"default": defaults.margin}}
    for layer in layers:
        for k, v in (layer or {}).items():
            if k in ("max_drop", "margin"):
                v = v if isinstance(v, dict) else {"default": v}
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
    return parse_rules(merged)


@dataclass(frozen=True)
class Check:
    """One row of the gate's verdict table."""

    kind: str
    dataset: str
    system: str
    measure: str
    verdict: Verdict
    message: str
    baseline: float | None = None
    new: float | None = None
    delta: float | None = None
    ci: tuple[float, float] | None = None
    p: float | None = None

    @property
    def name(self) -> str:
        parts = [p for p in (self.dataset, self.system, self.measure) if p]
        return f"{self.kind}: " + " / ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "system": self.system,
            "measure": self.measure,
            "verdict": self.verdict,
            "message": self.message,
            "baseline": self.baseline,
            "new": self.new,
            "delta": self.delta,
            "ci": list(self.ci) if self.ci else None,
            "p": self.p,
        }


@dataclass(frozen=True)
class GateReport:
    checks: list[Check]
    rules: GateRules
    baseline_path: str

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "FAIL"]

    @property
    def passed(self) -> bool:
        return not self.failures


def _fmt_threshold(x: float | None) -> str:
    return "off" if x is None else f"{x:g}"


def run_gate(results: ResultSet, baseline: Baseline, rules: GateRules) -> GateReport:
    """Every check of the gate, in a stable order."""
    from harness.evaluation import stats

    checks: list[Check] = []
    base_measures = {m for cells in baseline.systems.values() for e in cells.values() for m in e["measures"]}
    for name in rules.exact:
        if not any(name in cells for cells in baseline.systems.values()):
            raise GateError(
                f"gate.exact names system '{name}', which the baseline does not hold",
                hint="baseline systems: " + ", ".join(sorted({s for c in baseline.systems.values() for s in c})),
            )
    named = [m for t in (rules.max_drop, rules.margin) if isinstance(t, dict) for m in t]
    for m in named:
        if m != "default" and m not in base_measures:
            raise GateError(
                f"a gate threshold names measure '{m}', which the baseline does not hold",
                hint="baseline measures: " + ", ".join(sorted(base_measures)),
            )
    ref = baseline.reference
    if rules.latency.reference is not None and ref is not None and rules.latency.reference != ref:
        raise GateError(
            f"gate.latency.reference is '{rules.latency.reference}' but the baseline's ratios are to '{ref}'",
            hint="use the baseline's reference system, or re-save the baseline with --reference",
        )
    ni_rows: list[int] = []  # indexes of effectiveness checks that ran a non-inferiority test
    ni_raw: list[float] = []
    pending: list[dict[str, Any]] = []

    for ds, ds_info in baseline.datasets.items():
        summary = results.datasets.get(ds)
        if summary is None:
            checks.append(
                Check("dataset", ds, "", "", "FAIL", f"dataset '{ds}' is in the baseline but not in the results")
            )
            continue
        fp_old, fp_new = ds_info.get("fingerprint"), summary.get("fingerprint")
        if fp_old != fp_new:
            checks.append(
                Check(
                    "dataset",
                    ds,
                    "",
                    "",
                    "FAIL",
                    f"dataset '{ds}' changed: fingerprint {str(fp_new)[:12]} differs from the baseline's "
                    f"{str(fp_old)[:12]} (different documents, queries, judgments or subset); "
                    "re-save the baseline if the change is intended",
                )
            )
            continue
        checks.append(Check("dataset", ds, "", "", "PASS", f"fingerprint {str(fp_new)[:12]} matches"))
        now = pipeline_percentiles(results, ds, rules.latency.clock)
        for system, entry in baseline.systems.get(ds, {}).items():
            cell = results.cell(ds, system)
            if cell is None:
                checks.append(
                    Check(
                        "cell",
                        ds,
                        system,
                        "",
                        "FAIL",
                        f"system '{system}' on dataset '{ds}' is in the baseline but not in the results",
                    )
                )
                continue
            if system in rules.exact:
                checks.append(_exact_check(ds, system, entry, cell.run_sha256, cell.per_query))
            for m, mb in entry["measures"].items():
                if m not in cell.aggregate or m not in cell.per_query:
                    checks.append(
                        Check(
                            "effectiveness",
                            ds,
                            system,
                            m,
                            "FAIL",
                            f"measure '{m}' is in the baseline but not in the results",
                            baseline=float(mb["aggregate"]),
                        )
                    )
                    continue
                old_agg, new_agg = float(mb["aggregate"]), float(cell.aggregate[m])
                old_pq: Mapping[str, float] = mb["per_query"]
                new_pq = cell.per_query[m]
                qids = sorted(set(old_pq) & set(new_pq))
                missing_q = sorted(set(old_pq) - set(new_pq))
                x = [float(new_pq[q]) for q in qids]
                y = [float(old_pq[q]) for q in qids]
                row: dict[str, Any] = {
                    "dataset": ds,
                    "system": system,
                    "measure": m,
                    "baseline": old_agg,
                    "new": new_agg,
                    "delta": new_agg - old_agg,
                    "problems": [],
                    "notes": [],
                    "ci": None,
                    "p_raw": None,
                }
                if missing_q:
                    row["problems"].append(
                        f"{len(missing_q)} baseline queries have no value in the results (first: {missing_q[0]})"
                    )
                if len(qids) >= 2:
                    ci = stats.bootstrap_diff_ci(x, y, n_resamples=rules.bootstrap_resamples, seed=rules.seed)
                    row["ci"] = (ci.low, ci.high)
                max_drop = rules.threshold("max_drop", m)
                if max_drop is not None:
                    drop = old_agg - new_agg
                    if drop > max_drop + 1e-12:
                        row["problems"].append(f"dropped {drop:.4f} > max_drop {max_drop:g}")
                    else:
                        row["notes"].append(f"drop {max(drop, 0.0):.4f} <= {max_drop:g}")
                margin = rules.threshold("margin", m)
                if margin is not None and len(qids) >= 2:
                    r = stats.paired_t(x, y, alternative="greater", margin=margin)
                    row["p_raw"] = r.pvalue
                    row["margin"] = margin
                    ni_rows.append(len(pending))
                    ni_raw.append(r.pvalue)
                elif margin is not None:
                    row["problems"].append("fewer than 2 paired queries: the non-inferiority test cannot run")
                pending.append(row)
            checks.extend(_latency_checks(results, baseline, rules, ds, system, entry, now))
        for c in results.cells:
            if c.dataset == ds and c.system not in baseline.systems.get(ds, {}):
                checks.append(Check("cell", ds, c.system, "", "SKIP", "new system, not in the baseline: not gated"))

    adjusted = stats.adjust(ni_raw, rules.correction) if ni_raw else []
    p_of = dict(zip(ni_rows, adjusted, strict=True))
    for i, row in enumerate(pending):
        p = p_of.get(i)
        if p is not None:
            label = f"non-inferiority (margin {row['margin']:g}) p={p:.3g}"
            if p >= rules.alpha:
                row["problems"].append(f"{label} >= alpha {rules.alpha:g} ({rules.correction}-corrected)")
            else:
                row["notes"].append(f"{label} < {rules.alpha:g}")
        verdict: Verdict = "FAIL" if row["problems"] else "PASS"
        checks.append(
            Check(
                "effectiveness",
                row["dataset"],
                row["system"],
                row["measure"],
                verdict,
                "; ".join(row["problems"] or row["notes"]) or "no threshold set: presence checked only",
                baseline=row["baseline"],
                new=row["new"],
                delta=row["delta"],
                ci=row["ci"],
                p=p,
            )
        )
    order = {"dataset": 0, "cell": 1, "exact": 2, "effectiveness": 3, "latency": 4}
    ds_order = {d: i for i, d in enumerate(baseline.datasets)}
    checks.sort(key=lambda c: (ds_order.get(c.dataset, 99), order.get(c.kind, 9)))
    return GateReport(checks=checks, rules=rules, baseline_path=str(baseline.path))


def _exact_check(
    ds: str, system: str, entry: Mapping[str, Any], run_sha: str, per_query: Mapping[str, Mapping[str, float]]
) -> Check:
    if entry.get("run_sha256") == run_sha:
        return Check("exact", ds, system, "", "PASS", "run file identical (sha256 matches)")
    differing: list[str] = []
    for m, mb in entry["measures"].items():
        new = per_query.get(m, {})
        for q, v in mb["per_query"].items():
            if q not in new or abs(float(new[q]) - float(v)) > EXACT_TOL:
                differing.append(f"{m} {q}")
    if not differing:
        return Check("exact", ds, system, "", "PASS", "run file differs but every per-query value matches")
    return Check(
        "exact",
        ds,
        system,
        "",
        "FAIL",
        f"marked exact, but the run file changed and {len(differing)} per-query values differ (first: {differing[0]})",
    )


def _latency_checks(
    results: ResultSet,
    baseline: Baseline,
    rules: GateRules,
    ds: str,
    system: str,
    entry: Mapping[str, Any],
    now: Mapping[str, Mapping[str, float]],
) -> list[Check]:
    """`now`: this run's end-to-end percentiles per system of `ds` (see pipeline_percentiles)."""
    ref = baseline.reference
    clock = rules.latency.clock
    old = entry.get("cpu_latency" if clock == "cpu" else "latency")
    if ref is None or system == ref:
        return []
    new, new_ref = now.get(system), now.get(ref)
    what = "CPU time" if clock == "cpu" else "latency"

    def whole_cell(verdict: Verdict, message: str) -> list[Check]:
        return [Check("latency", ds, system, "", verdict, message)]

    if not isinstance(old, Mapping):
        if clock == "cpu" and isinstance(entry.get("latency"), Mapping):
            return whole_cell(
                "FAIL",
                "gate.latency.clock is cpu but the baseline holds wall-clock ratios only: re-save it "
                "with `harness baseline save` from a run of this version, or set clock: wall",
            )
        if new is None:
            return whole_cell("SKIP", f"no {what} recorded (neither in the baseline nor now)")
        return whole_cell("SKIP", f"no {what} in the baseline: not gated")
    if new is None or new_ref is None:
        who = f"system '{system}'" if new is None else f"reference system '{ref}'"
        return whole_cell("FAIL", f"no {what} recorded for {who} on '{ds}', but the baseline has {what} for '{system}'")
    out: list[Check] = []
    floor = rules.latency.min_delta_ms
    for p in rules.latency.percentiles:
        label = f"cpu {p}" if clock == "cpu" else p
        old_ratio = old.get(f"{p}_ratio")
        if not isinstance(old_ratio, (int, float)) or old_ratio <= 0:
            out.append(Check("latency", ds, system, label, "FAIL", f"baseline has no {label} ratio to '{ref}'"))
            continue
        ratio = new[p] / new_ref[p]
        growth = ratio / float(old_ratio) - 1.0
        # What the change costs per query at the reference's current speed (ms).
        added_ms = (ratio - float(old_ratio)) * new_ref[p]
        within = growth <= rules.latency.max_growth + 1e-12
        ok = within or added_ms < floor
        why = (
            f"{label} ratio to '{ref}' {'grew' if growth >= 0 else 'fell'} {abs(growth):.1%} "
            f"({'<=' if within else '>'} allowed {rules.latency.max_growth:.0%})"
        )
        if not within:
            why += f", {added_ms:+.3g} ms per query ({'<' if ok else '>='} noise floor {floor:g} ms)"
        out.append(
            Check(
                "latency",
                ds,
                system,
                label,
                "PASS" if ok else "FAIL",
                why,
                baseline=float(old_ratio),
                new=ratio,
                delta=ratio - float(old_ratio),
            )
        )
    return out


# ---- rendering -------------------------------------------------------------------------------

_HEADER = ("check", "dataset", "system", "measure", "baseline", "new", "delta", "CI", "p", "verdict", "why")


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
        f(c.baseline),
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
    skipped = sum(1 for c in report.checks if c.verdict == "SKIP")
    state = "PASS" if report.passed else "FAIL"
    counts = f"{n - failed - skipped} passed, {failed} failed, {skipped} skipped"
    return f"gate {state}: {counts} (baseline {report.baseline_path})"


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
        cells[9] = f"**{c.verdict}**" if c.verdict == "FAIL" else c.verdict
        out.append("| " + " | ".join(_md_escape(v) for v in cells) + " |")
    r = report.rules
    out.append("")
    out.append(
        f"Rules: max_drop {r.max_drop}, margin {r.margin}, alpha {r.alpha:g} ({r.correction}), "
        f"exact {r.exact or 'none'}, latency ({r.latency.clock} clock, {', '.join(r.latency.percentiles)}) growth "
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
            "skipped": str(sum(1 for c in report.checks if c.verdict == "SKIP")),
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
        "baseline": report.baseline_path,
        "rules": report.rules.model_dump(mode="json"),
        "checks": [c.to_dict() for c in report.checks],
    }


def parse_threshold_options(values: Sequence[str], option: str) -> float | dict[str, float | None] | None:
    """`--max-drop 0.01` (every measure), `--max-drop nDCG@10=0.005` (one), `off` / `M=off`."""
    out: dict[str, float | None] = {}
    for text in values:
        key, sep, val = text.rpartition("=")
        name = key.strip() if sep else "default"
        v = val.strip()
        if v.lower() in ("off", "none", "null"):
            out[name] = None
            continue
        try:
            num = float(v)
        except ValueError:
            raise GateError(
                f"{option} '{text}' is not a number", hint=f"write {option} 0.01 or {option} nDCG@10=0.005"
            ) from None
        out[name] = num
    if set(out) == {"default"}:
        return out["default"]
    return out
