"""The report's per-system table rows: win/loss, latency, offline costs and significance."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.latency import EndToEnd
from harness.report.view import WinLoss
from harness.results import Cell, ResultSet
from harness.sections import STATISTICS
from harness.timing import LatencyStats, TimingNoise

TIE_EPS = 1e-9
"""Per-query differences at most this large count as ties in win/loss counts."""

_COST_KEYS = (
    "build_s",
    "docs",
    "docs_per_s",
    "index_bytes",
    "memory_bytes",
    "precision",
    "tokens_per_s",
    "peak_fraction",
)
"""Costs with a column of their own; any other cost goes to the 'other' column."""
_THREAD_KEYS = ("applied", "torch", "faiss", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def winloss_rows(cells: list[Cell], baseline: str | None, measure: str) -> list[WinLoss]:
    """Per-query wins, ties and losses of every other system against `baseline` (a query one
    side did not answer counts as 0 there)."""
    base = next((c for c in cells if c.system == baseline), None)
    if base is None:
        return []
    ref = base.per_query.get(measure, {})
    out: list[WinLoss] = []
    for c in cells:
        if c.system == baseline:
            continue
        values = c.per_query.get(measure, {})
        qids = list(dict.fromkeys([*ref, *values]))
        deltas = [(q, float(values.get(q, 0.0)) - float(ref.get(q, 0.0))) for q in qids]
        wins = sum(1 for _, d in deltas if d > TIE_EPS)
        losses = sum(1 for _, d in deltas if d < -TIE_EPS)
        ordered = sorted(deltas, key=lambda qd: (qd[1], qd[0]))
        out.append(
            WinLoss(
                system=c.system,
                wins=wins,
                ties=len(deltas) - wins - losses,
                losses=losses,
                mean_delta=sum(d for _, d in deltas) / len(deltas) if deltas else 0.0,
                best=[qd for qd in reversed(ordered[-3:]) if qd[1] > TIE_EPS],
                worst=[qd for qd in ordered[:3] if qd[1] < -TIE_EPS],
            )
        )
    return out


def latency_row(c: Cell, e2e: EndToEnd | None) -> dict[str, Any]:
    t = c.timing
    stats = e2e.stats() if e2e is not None else LatencyStats()
    cpu = e2e.stats("cpu") if e2e is not None else LatencyStats()
    stages = [
        (s.type, s.latency.mean, s.latency.p50, s.replayed_ms > 0, [(n, p.latency.p50) for n, p in s.parts.items()])
        for s in (t.stages if t else ())
    ]
    threads = t.threads if t else {}
    noise = t.noise if t else None
    return {
        "system": c.system,
        "mode": t.config.mode if t else "—",
        "n": stats.n,
        "stats": {s: stats.get(s) for s in STATISTICS},
        "cpu_p50": cpu.p50,
        "qps": e2e.qps if e2e is not None else None,
        # An incomplete end-to-end cost still names what the system reads.
        "inputs": list(e2e.inputs if e2e is not None and e2e.inputs is not None else (t.depends_on if t else ())),
        "inputs_complete": e2e.complete if e2e is not None else True,
        "stages": stages,
        # the counts the runtimes were set to; the wait policy is in the environment section
        "threads": ", ".join(f"{k}={threads[k]}" for k in _THREAD_KEYS if threads.get(k) is not None),
        "resumed": c.resumed,
        "noisy": noise.noisy if noise else False,
        "noise": _noise_text(noise),
    }


def _noise_text(noise: TimingNoise | None) -> str:
    """What the timing pass saw of the rest of the machine, in a few words."""
    if noise is None:
        return ""
    notes = [f"pass {noise.kept} of {noise.passes} kept"] if noise.passes > 1 else []
    if noise.threads is not None:
        notes.append(f"timed at {noise.threads} thread{'s' if noise.threads != 1 else ''}")
    if noise.noisy:
        return noise.reason + (f" ({', '.join(notes)})" if notes else "")
    said = [f"other processes {noise.others_cpu:.2f} cores"] if noise.others_cpu is not None else []
    if noise.tail_drift is not None:
        said.append(f"tail drift {noise.tail_drift:.2f}x")
    return ", ".join([*said, *notes])


def _short(v: Any) -> str:
    """A cost value for the 'other' column: floats rounded, long strings (hashes) cut."""
    if isinstance(v, float):
        return f"{v:.4g}"
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text if len(text) <= 40 else text[:12] + "…"


def cost_rows(c: Cell) -> list[dict[str, Any]]:
    """One row per stage of the cell: build time, throughput, index size, memory."""
    rows: list[dict[str, Any]] = []
    if c.timing is None:
        return rows
    peak = c.timing.memory.peak_rss_bytes
    for s in c.timing.stages:
        costs = s.costs
        build_s = costs.get("build_s", s.prepare_s)
        docs = costs.get("docs")
        dps = costs.get("docs_per_s")  # the stage's own figure (e.g. encoding alone) first
        if not isinstance(dps, (int, float)):
            dps = None
            if isinstance(docs, (int, float)) and isinstance(build_s, (int, float)) and build_s > 0:
                dps = float(docs) / float(build_s)
        extra = {k: _short(v) for k, v in costs.items() if k not in _COST_KEYS and not k.startswith("train_")}
        rows.append(
            {
                "system": c.system,
                "stage": s.type,
                "prepare_s": s.prepare_s,
                "build_s": build_s,
                "cached": s.cached,
                "docs": docs,
                "docs_per_s": dps,
                "precision": costs.get("precision"),
                "tokens_per_s": costs.get("tokens_per_s"),
                "peak_fraction": costs.get("peak_fraction"),
                "index_bytes": costs.get("index_bytes"),
                "memory_bytes": costs.get("memory_bytes"),
                "rss_delta_bytes": s.rss_delta_bytes,
                "peak_rss_bytes": peak,
                "extra": ", ".join(f"{k}={v}" for k, v in sorted(extra.items())),
                "training": training_text(costs),
                "resumed": c.resumed,
            }
        )
    return rows


def training_text(costs: Mapping[str, Any]) -> str:
    """A fine-tuned model's training in words (empty for other stages)."""
    steps, seconds = costs.get("train_steps"), costs.get("train_s")
    if not isinstance(steps, int) or not isinstance(seconds, (int, float)):
        return ""
    rate = costs.get("train_steps_per_s")
    text = f"{steps} steps on {costs.get('train_examples')} examples in {seconds:.1f} s"
    text += f" ({rate:.3f} steps/s)" if isinstance(rate, (int, float)) else ""
    loss, peak = costs.get("train_loss"), costs.get("train_peak_rss_bytes")
    text += f", final loss {loss:.4f}" if isinstance(loss, (int, float)) else ""
    text += f", peak RSS {peak / 2**30:.2f} GiB" if isinstance(peak, (int, float)) else ""
    return text + (" (stored model reused)" if costs.get("train_cached") else "")


def _sub(d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """d[key] when it is a mapping, else an empty one."""
    v = d.get(key)
    return v if isinstance(v, Mapping) else {}


def significance_rows(results: ResultSet, dataset: str) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str]]:
    """The stored comparisons of `dataset` as rows, and (system, measure) -> '▲' / '▼' markers."""
    comp = results.comparisons if isinstance(results.comparisons, Mapping) else {}
    primary = str(comp.get("primary", "t"))
    rows: list[dict[str, Any]] = []
    markers: dict[tuple[str, str], str] = {}
    for r in comp.get("results") or []:
        if not isinstance(r, Mapping) or r.get("dataset") != dataset:
            continue
        test = _sub(_sub(r, "tests"), primary)
        ci = r.get("delta_ci")
        row = {
            "system": str(r.get("system", "?")),
            "measure": str(r.get("measure", "?")),
            "baseline": str(r.get("baseline", "?")),
            "mean": r.get("mean"),
            "delta": r.get("delta"),
            "ci": tuple(ci) if isinstance(ci, list) and len(ci) == 2 else (None, None),
            "p": test.get("p_adjusted", test.get("p")),
            "significant": bool(r.get("significant")),
            "direction": str(r.get("direction", "none")),
            "counts": (r.get("improved"), r.get("unchanged"), r.get("degraded")),
        }
        rows.append(row)
        if row["significant"]:
            markers[(row["system"], row["measure"])] = "▲" if row["direction"] == "better" else "▼"
    return rows, markers
