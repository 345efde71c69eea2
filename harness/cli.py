"""The `harness` command. Exit codes: 0 ok, 1 gate failed, 2 bad input, 3 internal error."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer

from harness.errors import HarnessError

EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Offline IR evaluation: run experiment specs, score runs as trec_eval does, report and gate.",
)


def _print_version(value: bool) -> None:
    if value:
        from harness import __version__

        typer.echo(f"harness {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    pass


DataRootOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option("--data-root", help="folder of local datasets (default: $HARNESS_DATA_ROOT or ../shared/data)"),
]


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="experiment spec (YAML)")],
    data_root: DataRootOpt = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="output folder (default reports/<name>)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="recompute every cell, ignoring finished ones")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="no progress bars")] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="skip the HTML/Markdown report")] = False,
) -> None:
    """Run every system over every dataset of SPEC; write runs, results.json and the report."""
    import os

    from harness.data.resolve import data_root as resolve_root
    from harness.runner import RunOptions, format_table, output_dir, run_experiment
    from harness.spec import load_spec

    root = resolve_root(data_root).resolve()
    # Specs may write ${HARNESS_DATA_ROOT}; it always means the data root in effect.
    exp = load_spec(spec, env={**os.environ, "HARNESS_DATA_ROOT": str(root)})
    out = output_dir(exp, output)
    from harness.timing import parse_latency

    parse_latency(exp.spec.latency)  # a bad latency: mapping fails before any work
    results = run_experiment(exp, RunOptions(data_root=root, output=out, force=force, progress=not quiet))
    typer.echo(format_table(results))
    typer.echo(f"\nresults: {out / 'results.json'}")
    if not no_report:
        from harness.report import missing_dependencies, write_report

        if missing_dependencies():
            typer.echo("report skipped: pip install 'harness[plots]' (then `harness report DIR`)", err=True)
        else:
            from harness.report.data import report_options

            typer.echo(f"report: {write_report(results, out / 'report.html', report_options(results)).html}")


@app.command("eval")
def eval_cmd(
    qrels: Annotated[Path, typer.Argument(help="qrels file (TREC 4 columns or BEIR TSV)")],
    run_file: Annotated[Path, typer.Argument(metavar="RUN", help="TREC run file (6 columns)")],
    measure: Annotated[list[str], typer.Option("-m", "--measure", help="ir_measures name; repeatable")] = [],  # noqa: B006
    per_query: Annotated[bool, typer.Option("-q", "--per-query", help="print a line per query too")] = False,
) -> None:
    """Score a run file as `trec_eval -c` would (every judged query counts)."""
    from harness.data.trec import read_qrels, read_run
    from harness.evaluation.measures import evaluate, parse_measures

    measures = parse_measures(measure or ["nDCG@10", "RR@10", "R@100", "AP"])
    ev = evaluate(read_qrels(qrels), read_run(run_file), measures)
    if ev.judged and not ev.answered:
        typer.echo(
            f"warning: {run_file} answers none of the {ev.judged} judged queries of {qrels}: every query "
            "scores 0 (as trec_eval -c); check that the run and the qrels belong together",
            err=True,
        )
    width = max(len(m.name) for m in measures)
    for m in measures:
        values = ev.per_query[m.name]
        digits = 0 if m.summed else 4  # trec_eval prints counts as integers
        if per_query:
            for qid in values:
                typer.echo(f"{m.name.ljust(width)}\t{qid}\t{values[qid]:.{digits}f}")
        typer.echo(f"{m.name.ljust(width)}\tall\t{ev.aggregate[m.name]:.{digits}f}")


@app.command()
def datasets(data_root: DataRootOpt = None) -> None:
    """List the datasets that resolve under the local data root, with counts."""
    from harness.data.catalog import list_local
    from harness.data.resolve import data_root as resolve_root

    root = resolve_root(data_root)
    rows = list_local(root)
    if not rows:
        raise HarnessError(f"no BEIR-format datasets under {root}", hint="set --data-root or HARNESS_DATA_ROOT")
    typer.echo(f"data root: {root}")
    header = ("id", "docs", "queries", "judged", "judgments")
    table = [header, *[(r.id, str(r.docs), str(r.queries), str(r.judged), str(r.judgments)) for r in rows]]
    widths = [max(len(t[i]) for t in table) for i in range(len(header))]
    for t in table:
        cols = zip(t, widths, strict=True)
        typer.echo("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(cols)))


@app.command()
def systems() -> None:
    """List the registered system (stage) types and their parameters."""
    from harness.systems import STAGES

    for name in STAGES.names():
        params = STAGES.get(name).Params.model_fields
        shown = [
            k if v.is_required() else f"{k}={v.get_default(call_default_factory=True)!r}" for k, v in params.items()
        ]
        typer.echo(f"{name}: " + ", ".join(shown))


def _register_commands() -> None:
    """Commands in harness/commands/ each define `register(app)`: one file per command group."""
    import importlib
    import pkgutil

    import harness.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"harness.commands.{info.name}").register(app)


def main(argv: list[str] | None = None) -> int:
    _register_commands()
    try:
        # Standalone mode: usage errors print themselves and raise SystemExit(2).
        app(args=argv, prog_name="harness")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_INPUT)
    except HarnessError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_INPUT
    except KeyboardInterrupt:
        typer.echo("interrupted; finished cells are kept, re-run to resume", err=True)
        return 130
    except Exception:
        traceback.print_exc()
        typer.echo("internal error: this is a bug in harness; please report it with the traceback above", err=True)
        return EXIT_INTERNAL
    return EXIT_OK


def entry() -> None:
    sys.exit(main())
