"""`harness eval QRELS RUN`: score a run file as `trec_eval -c` would, in trec_eval's own line format.

Either file may be `-` (stdin), or a pipe such as `/dev/stdin`: `cat run | harness eval qrels -`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from harness.evaluation.run_table import RunTable
    from harness.records import Qrels


def _read_inputs(qrels: Path, run_file: Path) -> tuple[Qrels, RunTable, str, str]:
    """(qrels, run, qrels name, run name), reading `-` from stdin. The run is read into
    columns (`run_fast`): no object per scored document on the way to the evaluator."""
    from harness.data.run_fast import read_run_table
    from harness.data.textio import STDIN_ARG, STDIN_NAME, same_stream, stdin_stream
    from harness.data.trec import read_qrels
    from harness.errors import DataError

    if same_stream(qrels, run_file):
        raise DataError(
            "qrels and run would both be read from the same stream",
            path=STDIN_NAME if STDIN_ARG in (str(qrels), str(run_file)) else qrels,
            hint="pipe one of them and give the other as a file",
        )
    q_stdin, r_stdin = str(qrels) == STDIN_ARG, str(run_file) == STDIN_ARG
    q_name = Path(STDIN_NAME) if q_stdin else qrels
    r_name = Path(STDIN_NAME) if r_stdin else run_file
    judged = read_qrels(q_name, stream=stdin_stream() if q_stdin else None)
    run = read_run_table(r_name, stream=stdin_stream() if r_stdin else None)
    return judged, run, str(q_name), str(r_name)


def eval_cmd(
    qrels: Annotated[Path, typer.Argument(help="qrels file (TREC 4 columns or BEIR TSV); '-' reads stdin")],
    run_file: Annotated[Path, typer.Argument(metavar="RUN", help="TREC run file (6 columns); '-' reads stdin")],
    measure: Annotated[list[str], typer.Option("-m", "--measure", help="ir_measures name; repeatable")] = [],  # noqa: B006
    per_query: Annotated[bool, typer.Option("-q", "--per-query", help="print a line per query too")] = False,
) -> None:
    """Score a run file as `trec_eval -c` would (every judged query counts)."""
    from harness.evaluation.measures import evaluate, parse_measures

    measures = parse_measures(measure or ["nDCG@10", "RR@10", "R@100", "AP"])
    judged, run, q_name, r_name = _read_inputs(qrels, run_file)
    ev = evaluate(judged, run, measures)
    if ev.judged and not ev.answered:
        typer.echo(
            f"warning: {r_name} answers none of the {ev.judged} judged queries of {q_name}: every query "
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
