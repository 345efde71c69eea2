"""`harness datasets` and `harness systems`: what this installation can run."""

from __future__ import annotations

import typer

from harness.cli.shared_opts import DataRootOpt
from harness.errors import HarnessError


def datasets(data_root: DataRootOpt = None) -> None:
    """List the datasets that resolve under the local data root, with counts."""
    from harness.data.catalog import list_local
    from harness.data.resolve import data_root as resolve_root
    from harness.tables import render_table

    root = resolve_root(data_root)
    rows = list_local(root)
    if not rows:
        raise HarnessError(f"no BEIR-format datasets under {root}", hint="set --data-root or HARNESS_DATA_ROOT")
    typer.echo(f"data root: {root}")
    header = ("id", "docs", "queries", "judged", "judgments")
    body = [(r.id, r.docs, r.queries, r.judged, r.judgments) for r in rows]
    typer.echo(render_table(header, body, align="lrrrr"))


def systems() -> None:
    """List the registered system (stage) types and their parameters."""
    from harness.systems import STAGES
    from harness.tables import render_table

    rows = []
    for name in STAGES.names():
        params = STAGES.get(name).Params.model_fields
        shown = [
            k if v.is_required() else f"{k}={v.get_default(call_default_factory=True)!r}" for k, v in params.items()
        ]
        rows.append((name, ", ".join(shown)))
    typer.echo(render_table(("type", "parameters"), rows))
