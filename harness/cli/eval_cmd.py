"""`harness eval QRELS RUN`: score a run file as `trec_eval -c` would, in trec_eval's own line format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


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
    # Tab-separated like trec_eval, not a table: scripts that parse trec_eval output read this too.
    width = max(len(m.name) for m in measures)
    for m in measures:
        values = ev.per_query[m.name]
        digits = 0 if m.summed else 4  # trec_eval prints counts as integers
        if per_query:
            for qid in values:
                typer.echo(f"{m.name.ljust(width)}\t{qid}\t{values[qid]:.{digits}f}")
        typer.echo(f"{m.name.ljust(width)}\tall\t{ev.aggregate[m.name]:.{digits}f}")
