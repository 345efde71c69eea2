"""`harness clicks fit LOG` (a click model from a real click log) and `harness clicks sample`
(a click log simulated from a run, its judgments and a click model): harness.online."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from harness.online.fitted import FittedModel

clicks_app = typer.Typer(no_args_is_help=True, help="Fit click models to click logs; simulate click logs.")

OutOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option("-o", "--output", help="write the fitted model here (JSON), for a spec's online.click_models `from:`"),
]


def _summary(fitted: FittedModel, log: Path) -> list[str]:
    lines = [f"{fitted.type} fitted to {fitted.sessions} sessions of {log}"]
    if fitted.iterations:
        lines[0] += f" in {fitted.iterations} EM iterations"
    if fitted.pairs_at_several_ranks is not None:
        lines.append(f"documents shown at two or more ranks: {fitted.pairs_at_several_ranks:.1%} of the pairs")
    if fitted.examination is not None:
        ranks = ", ".join("—" if x is None else f"{x:.4f}" for x in fitted.examination)
        lines.append(f"examination by rank (rank 1 = 1; —: never shown): {ranks}")
    if fitted.attractiveness_by_grade is not None and fitted.pairs_by_grade is not None:
        by_grade = zip(fitted.attractiveness_by_grade, fitted.pairs_by_grade, strict=True)
        grades = ", ".join(f"{g}: {a:.4f} ({n})" for g, (a, n) in enumerate(by_grade))
        lines.append(f"attractiveness by grade (pairs): {grades}")
    return lines


@clicks_app.command("fit")
def fit_cmd(
    log: Annotated[Path, typer.Argument(metavar="LOG", help="click log: TSV with a header, or .parquet")],
    model: Annotated[str, typer.Option("--model", help="pbm (EM) or cascade (maximum likelihood)")] = "pbm",
    qrels: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--qrels", help="judgments: the fit then gives attractiveness per grade, to drive simulations"),
    ] = None,
    output: OutOpt = None,
) -> None:
    """Fit a click model to LOG (columns session, query, document, position, clicked)."""
    from harness.data.qrels import read_qrels
    from harness.errors import DataError
    from harness.fsutil import ANYWHERE, atomic_write_text
    from harness.online.click_fit import fit
    from harness.online.click_log import read_click_log

    if model not in ("pbm", "cascade"):
        raise DataError(f"unknown click model '{model}' to fit", hint="use --model pbm or --model cascade")
    judged = read_qrels(qrels) if qrels is not None else None
    fitted = fit(read_click_log(log), model, judged)
    for line in _summary(fitted, log):
        typer.echo(line)
    if not fitted.converged:
        typer.echo(
            f"warning: EM did not converge in {fitted.iterations} iterations: the parameters are not settled "
            "(a small log, or one whose rankings barely vary)",
            err=True,
        )
    if output is not None:
        atomic_write_text(output, fitted.to_json(), ANYWHERE)
        typer.echo(f"model: {output}")


@clicks_app.command("sample")
def sample_cmd(
    run: Annotated[Path, typer.Option("--run", help="TREC run whose top results are shown")],
    qrels: Annotated[Path, typer.Option("--qrels", help="judgments that drive the clicks")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the click log to write (TSV)")],
    click_model: Annotated[
        str, typer.Option("--click-model", help="TYPE-PRESET, e.g. pbm-informational")
    ] = "pbm-informational",
    sessions: Annotated[int, typer.Option("--sessions", min=1, help="impressions to simulate")] = 10_000,
    depth: Annotated[int, typer.Option("--depth", min=1, max=100, help="results shown per impression")] = 10,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    shuffle: Annotated[bool, typer.Option("--shuffle/--no-shuffle", help="permute each impression's results")] = True,
) -> None:
    """Simulate a click log: queries drawn uniformly, each impression the run's top DEPTH."""
    from pydantic import ValidationError

    from harness.data.qrels import read_qrels
    from harness.data.trec import read_run
    from harness.errors import DataError
    from harness.fsutil import ANYWHERE, atomic_write_text
    from harness.online.click_fit import simulate_log
    from harness.online.click_models import build_click_model
    from harness.online.power import stream
    from harness.sections import ClickModelConfig
    from harness.validation import format_pydantic

    judged = read_qrels(qrels)
    try:
        config = ClickModelConfig.model_validate(click_model)
    except ValidationError as exc:
        msg, _ = format_pydantic(exc, ClickModelConfig)
        raise DataError(
            f"--click-model {click_model}: {msg}", hint="e.g. pbm-informational, cascade-navigational, dbn-perfect"
        ) from None
    top = max([1, *(g for j in judged.values() for g in j.values())])
    model = build_click_model(config, top, depth)
    rankings = {q: [d.doc_id for d in docs] for q, docs in read_run(run).items() if q in judged}
    rows = simulate_log(model, rankings, judged, sessions, depth, stream(seed, "sample", click_model), shuffle)
    text = "session\tquery\tdocument\tposition\tclicked\n" + "".join(
        f"{s}\t{q}\t{d}\t{p}\t{c}\n" for s, q, d, p, c in rows
    )
    atomic_write_text(output, text, ANYWHERE)
    typer.echo(f"{sessions} sessions, {len(rows)} rows, {sum(r[4] for r in rows)} clicks: {output}")
