"""`harness run SPEC`: run every system over every dataset, then print the summary and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from harness.cli.shared_opts import DataRootOpt

if TYPE_CHECKING:
    from harness.plan import Plan
    from harness.results import ResultSet


def run(
    spec: Annotated[Path, typer.Argument(help="experiment spec (YAML)")],
    data_root: DataRootOpt = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="output folder (default reports/<name>)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="recompute every cell, ignoring finished ones")] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="no progress bars (none either when stderr is no terminal)")
    ] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="skip the HTML/Markdown report")] = False,
    executor: Annotated[
        str | None, typer.Option("--executor", help="local or ray (overrides the spec's executor:)")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="ray: auto, local or ray://host:port (implies --executor ray)")
    ] = None,
    mlflow: Annotated[
        str | None, typer.Option("--mlflow", help="log the results to this MLflow tracking URI (overrides tracking:)")
    ] = None,
) -> None:
    """Run every system over every dataset of SPEC; write runs, results.json and the report."""
    import os

    from harness.data.resolve import data_root as resolve_root
    from harness.plan import load_plan
    from harness.runner import OUTPUT, RunOptions, output_dir, run_experiment

    root = resolve_root(data_root).resolve()
    # Specs may write ${HARNESS_DATA_ROOT}; it always means the data root in effect.
    plan = load_plan(spec, env={**os.environ, "HARNESS_DATA_ROOT": str(root)}, output=output)
    if executor is not None or ray_address is not None:
        plan = with_executor(plan, executor, ray_address)
    plan = with_tracking(plan, mlflow)
    out = output_dir(plan, output)
    results = run_experiment(
        plan, RunOptions(data_root=root, output=out, force=force, progress=not quiet and _interactive())
    )
    typer.echo(summary_table(results))
    typer.echo(f"\nresults: {out / 'results.json'}")
    if not no_report:
        from harness.report import missing_dependencies, report_options, write_report

        if missing_dependencies():
            typer.echo("report skipped: pip install 'harness[plots]' (then `harness report DIR`)", err=True)
        else:
            files = write_report(results, out / "report.html", report_options(results), dest=OUTPUT)
            typer.echo(f"report: {files.html}")
    tracking = plan.settings.tracking.mlflow
    if tracking is not None:
        from harness.mlflow_log import log_results

        typer.echo(log_results(results, out, tracking.uri, tracking.experiment).line(tracking.uri))


def with_tracking(plan: Plan, uri: str | None) -> Plan:
    """`plan` with `--mlflow URI` in place of the spec's tracking; when anything is to be logged,
    mlflow must be installed, which is checked now and not after the run."""
    import dataclasses

    from harness.errors import SpecError
    from harness.sections import MlflowConfig, TrackingConfig

    if uri is not None:
        tracking = TrackingConfig(mlflow=MlflowConfig(uri=uri))
        plan = dataclasses.replace(plan, settings=plan.settings.model_copy(update={"tracking": tracking}))
    if plan.settings.tracking.mlflow is not None:
        from harness.mlflow_log import ready_to_log

        try:
            ready_to_log(plan.settings.tracking.mlflow.uri)  # before the run, not after it
        except SpecError as error:
            if uri is None:  # the spec asked for it
                error.locate(plan.path, plan.lines.at(("tracking",)))
            raise
    return plan


def with_executor(plan: Plan, executor: str | None, ray_address: str | None) -> Plan:
    """`plan` with the command line's executor in place of the spec's."""
    import dataclasses

    from pydantic import ValidationError

    from harness.errors import SpecError
    from harness.sections import ExecutorConfig

    current = plan.settings.executor
    if executor == "local" and ray_address is not None:
        raise SpecError(
            "--ray-address is a setting of the Ray executor, not of --executor local",
            hint="drop --ray-address, or use --executor ray",
        )
    kind = executor or ("ray" if ray_address is not None else current.type)
    fields: dict[str, Any] = {"type": kind}
    if kind == "ray":
        fields["address"] = ray_address if ray_address is not None else current.address
        fields["num_cpus"] = current.num_cpus
        fields["workers"] = current.workers
    try:
        chosen = ExecutorConfig.model_validate(fields)
    except ValidationError as exc:
        raise SpecError(
            f"--executor {kind!r}: {exc.errors()[0]['msg']}", hint="use --executor local or --executor ray"
        ) from None
    return dataclasses.replace(plan, settings=plan.settings.model_copy(update={"executor": chosen}))


def summary_table(results: ResultSet) -> str:
    """One row per dataset x system, one column per measure."""
    from harness.tables import render_table

    header = ["dataset", "system", *results.measures]
    rows = [[c.dataset, c.system, *(f"{c.aggregate[m]:.4f}" for m in results.measures)] for c in results.cells]
    table = render_table(header, rows, align="ll" + "r" * len(results.measures))
    for name, data in results.online.items():
        for a in data.agreement:
            table += (
                f"\nonline {name}: {a.method} / {a.click_model} agrees in sign with offline "
                f"{data.pairs[0].offline.measure} on {a.agree} of {a.pairs} pairs"
                f" ({a.significant_agree} of the {a.significant_pairs} significant)"
            )
    return table


def _interactive() -> bool:
    """Progress bars only on a terminal: piped into a file or a CI log, each redraw is a line."""
    import sys

    return sys.stderr.isatty()
