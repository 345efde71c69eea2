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


def _small_pages() -> None:
    """Stop numpy advising huge pages for this process, unless NUMPY_MADVISE_HUGEPAGE says
    otherwise. With the kernel's usual `transparent_hugepage/defrag = madvise`, a fault in an
    advised region compacts memory on the spot. On benchmarks/eval_speed.py's 7M-line run (2-core
    VM, right after the plain recipe's process exits) `harness eval` took 2.8-3.0 s wall and
    3.4-3.6 s CPU with the advice, 2.2-2.3 s and 2.8 s without. The command allocates each large
    array about once, so huge pages save little. numpy documents only the variable, read at
    import; the switch that works later is private, so its absence is not an error."""
    import importlib
    import os

    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):  # numpy 2, numpy 1
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        switch = getattr(module, "_set_madvise_hugepage", None)
        if switch is not None:
            switch(False)
        return


def eval_cmd(
    qrels: Annotated[Path, typer.Argument(help="qrels file (TREC 4 columns or BEIR TSV); '-' reads stdin")],
    run_file: Annotated[Path, typer.Argument(metavar="RUN", help="TREC run file (6 columns); '-' reads stdin")],
    measure: Annotated[list[str], typer.Option("-m", "--measure", help="ir_measures name; repeatable")] = [],  # noqa: B006
    per_query: Annotated[bool, typer.Option("-q", "--per-query", help="print a line per query too")] = False,
) -> None:
    """Score a run file as `trec_eval -c` would (every judged query counts)."""
    from harness.evaluation.measures import evaluate, parse_measures

    measures = parse_measures(measure or ["nDCG@10", "RR@10", "R@100", "AP"])
    _small_pages()
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
    lines: list[str] = []
    for m in measures:
        name, values = m.name.ljust(width), ev.per_query[m.name]
        digits = 0 if m.summed else 4  # trec_eval prints counts as integers
        if per_query:
            lines.extend(f"{name}\t{qid}\t{value:.{digits}f}" for qid, value in values.items())
        lines.append(f"{name}\tall\t{ev.aggregate[m.name]:.{digits}f}")
    typer.echo("\n".join(lines))  # one write: an echo per line cost 0.3 s for 28k lines
