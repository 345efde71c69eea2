"""`harness compare RESULTS_DIR`: significance tests and intervals of every system against the baseline system."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def compare_cmd(
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="folder holding results.json")],
    baseline_system: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--baseline", help="compare against this system (recomputes; default: as stored)"),
    ] = None,
    correction: Annotated[Optional[str], typer.Option("--correction", help="holm, bonferroni, bh, none")] = None,  # noqa: UP045
    measure: Annotated[list[str], typer.Option("-m", "--measure", help="restrict to a measure; repeatable")] = [],  # noqa: B006
) -> None:
    """Show significance tests and confidence intervals of every system against the baseline system."""
    from pydantic import ValidationError

    from harness.cli.shared_opts import given
    from harness.compare import compare, format_comparisons
    from harness.errors import SpecError
    from harness.results import ResultSet
    from harness.sections import CompareConfig
    from harness.validation import format_pydantic

    results = ResultSet.load(results_dir)
    comparisons = results.comparisons
    overrides = given(baseline=baseline_system, correction=correction, measures=list(measure))
    if overrides or not comparisons:
        stored = dict(comparisons.get("config", {})) if comparisons else {}
        if not stored:
            stored = results.settings.compare.model_dump(mode="json", exclude_defaults=True)
        try:
            config = CompareConfig.model_validate({**stored, **overrides})
        except ValidationError as exc:
            msg, _ = format_pydantic(exc, CompareConfig)
            raise SpecError(f"compare: {msg}", hint="check --baseline, --correction and -m") from None
        comparisons = compare(results, config)
    typer.echo(format_comparisons(comparisons))
