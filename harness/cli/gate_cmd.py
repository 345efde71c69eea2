"""`harness snapshot save` and `harness gate`: freeze results into a snapshot, then check later results against it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from harness.gate import GateReport

snapshot_app = typer.Typer(no_args_is_help=True, help="Gate snapshots: freeze a results.json for later gating.")


@snapshot_app.command("save")
def snapshot_save(
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="folder holding results.json")],
    output: Annotated[Path, typer.Option("-o", "--output", help="snapshot file to write (JSON)")],
    reference: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on Python 3.10
        typer.Option(
            "--reference",
            help="latency reference system (default: spec's gate.latency.reference, "
            "compare.baseline, or the first system)",
        ),
    ] = None,
) -> None:
    """Store aggregates, per-query values, dataset fingerprints, run hashes and latency ratios."""
    from harness.fsutil import writable_file
    from harness.gate import save_snapshot
    from harness.results import ResultSet

    writable_file(output)
    results = ResultSet.load(results_dir)
    doc = save_snapshot(results, output, reference)
    cells = sum(len(v) for v in doc["systems"].values())
    typer.echo(
        f"snapshot: {output} ({len(doc['datasets'])} datasets, {cells} cells, {len(doc['measures'])} measures, "
        f"latency reference {doc['reference_system']})"
    )


def parse_threshold_options(values: Sequence[str], option: str) -> float | dict[str, float | None] | None:
    """`--max-drop 0.01` (every measure), `--max-drop nDCG@10=0.005` (one), `off` / `M=off`."""
    from harness.errors import GateError

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


def _spec_gate(path: Path) -> dict[str, Any]:
    """The gate: keys a spec (or a file of gate rules) sets, checked with file:line errors."""
    import os

    from harness.data.resolve import data_root
    from harness.plan import load_section
    from harness.sections import GateRules

    env = {**os.environ, "HARNESS_DATA_ROOT": str(data_root().resolve())}
    return load_section(path, "gate", GateRules, env=env).model_dump(exclude_unset=True)


def _resolve_snapshot(text: str, spec_dir: Path | None) -> Path:
    """A relative gate.snapshot is tried as given, then next to the spec that names it."""
    p = Path(text).expanduser()
    if p.is_absolute() or p.exists() or spec_dir is None:
        return p
    alt = spec_dir / p
    return alt if alt.exists() else p


def _cli_rules(
    max_drop: list[str],
    margin: list[str],
    alpha: float | None,
    correction: str | None,
    exact: list[str],
    latency_growth: float | None,
    latency_clock: str | None,
    latency_scope: str | None = None,
) -> dict[str, Any]:
    """The gate rules given on the command line, as a `gate:` mapping (they win over the spec's)."""
    from harness.cli.shared_opts import given

    cli = given(
        max_drop=parse_threshold_options(max_drop, "--max-drop") if max_drop else None,
        margin=parse_threshold_options(margin, "--margin") if margin else None,
        alpha=alpha,
        correction=correction,
        exact=list(exact),
    )
    latency = given(max_growth=latency_growth, clock=latency_clock, scope=latency_scope)
    if latency:
        cli["latency"] = latency
    return cli


def _write_outputs(report: GateReport, outputs: dict[Path, str]) -> None:
    """The --junit, --markdown and --json files: every one of them, or (a write failed) none."""
    import json

    from harness.fsutil import atomic_write_many
    from harness.gate import format_junit, format_markdown, report_to_dict

    formats: dict[str, Callable[[], str]] = {
        "junit": lambda: format_junit(report),
        "markdown": lambda: format_markdown(report),
        "json": lambda: json.dumps(report_to_dict(report), indent=1) + "\n",
    }
    atomic_write_many({path: formats[fmt]().encode("utf-8") for path, fmt in outputs.items()})


def gate_cmd(
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="folder holding results.json")],
    snapshot: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--snapshot", "-s", help="snapshot file (default: the spec's gate.snapshot)"),
    ] = None,
    spec: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--spec", help="read gate: rules from this spec (default: the spec stored in results.json)"),
    ] = None,
    max_drop: Annotated[
        list[str], typer.Option("--max-drop", help="allowed aggregate drop: 0.01, nDCG@10=0.005 or M=off; repeatable")
    ] = [],  # noqa: B006
    margin: Annotated[
        list[str], typer.Option("--margin", help="non-inferiority margin: 0.01, nDCG@10=0.02 or off; repeatable")
    ] = [],  # noqa: B006
    alpha: Annotated[Optional[float], typer.Option("--alpha", help="significance level (default 0.05)")] = None,  # noqa: UP045
    correction: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--correction", help="holm (default), bonferroni, bh or none"),
    ] = None,
    exact: Annotated[list[str], typer.Option("--exact", help="system whose run must match exactly; repeatable")] = [],  # noqa: B006
    latency_growth: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--latency-growth", help="allowed growth of p50/p95 ratios to the reference (0.25 = 25%)"),
    ] = None,
    latency_clock: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--latency-clock", help="cpu (default) or wall: which per-query times the ratios use"),
    ] = None,
    latency_scope: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--latency-scope", help="end-to-end (default) or search-only: without query encoding"),
    ] = None,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="write JUnit XML here")] = None,  # noqa: UP045
    markdown: Annotated[Optional[Path], typer.Option("--markdown", help="write a Markdown summary here")] = None,  # noqa: UP045
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write every check as JSON here")] = None,  # noqa: UP045
) -> None:
    """Compare RESULTS_DIR with a snapshot. Exit 0 pass, 1 regression, 2 bad input."""
    from harness.errors import GateError
    from harness.fsutil import writable_file
    from harness.gate import format_table, load_snapshot, merge_rules, run_gate
    from harness.results import ResultSet

    outputs = {path: fmt for path, fmt in ((junit, "junit"), (markdown, "markdown"), (json_out, "json")) if path}
    for path in outputs:  # before any work
        writable_file(path)
    results = ResultSet.load(results_dir)
    stored = results.settings.gate.model_dump(mode="json", exclude_defaults=True)
    spec_rules = _spec_gate(spec) if spec is not None else {}
    cli = _cli_rules(max_drop, margin, alpha, correction, exact, latency_growth, latency_clock, latency_scope)
    if "latency" in cli:  # command-line latency options refine the stored/spec latency rule
        cli["latency"] = {**stored.get("latency", {}), **spec_rules.get("latency", {}), **cli["latency"]}
    rules = merge_rules(stored, spec_rules, cli)
    if snapshot is None:
        if not rules.snapshot:
            raise GateError("no snapshot given", hint="pass --snapshot FILE or set gate.snapshot in the spec")
        spec_path = spec or (Path(results.manifest.spec_path) if results.manifest.spec_path else None)
        snapshot = _resolve_snapshot(rules.snapshot, spec_path.parent if spec_path else None)
    report = run_gate(results, load_snapshot(snapshot), rules)
    typer.echo(format_table(report))
    _write_outputs(report, outputs)
    if not report.passed:
        raise typer.Exit(1)
