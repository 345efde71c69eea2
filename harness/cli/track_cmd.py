"""`harness track RESULTS_DIR --mlflow URI`: log an existing results folder to MLflow
(harness.mlflow_log); `harness run --mlflow URI` or the spec's `tracking:` do it after a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def track_cmd(
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="folder holding results.json")],
    mlflow: Annotated[str, typer.Option("--mlflow", help="MLflow tracking URI, e.g. sqlite:///mlflow.db")],
    experiment: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--experiment", help="MLflow experiment (default: the results' experiment name)"),
    ] = None,
) -> None:
    """Log RESULTS_DIR to MLflow: a parent run, one nested run per system; logged twice, nothing is added."""
    from harness.mlflow_log import log_results
    from harness.results import ResultSet

    folder = results_dir if results_dir.is_dir() else results_dir.parent
    logged = log_results(ResultSet.load(results_dir), folder, mlflow, experiment)
    typer.echo(logged.line(mlflow))
