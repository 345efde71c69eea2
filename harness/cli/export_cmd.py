"""`harness export RESULTS_DIR --format parquet|csv|mteb`: the results' tables (harness.frames) as
files for pandas, Spark, DuckDB or a spreadsheet; or the cells on MTEB's collections as MTEB
result files (harness.mteb_interop), for MTEB's leaderboard tooling."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

FORMATS = ("parquet", "csv", "mteb")


def export_cmd(
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="folder holding results.json")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet, csv or mteb")] = "parquet",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="folder to write into (default RESULTS_DIR/export)"),
    ] = None,
) -> None:
    """Write aggregate, per_query, latency, costs and comparisons as one file each (tidy tables:
    one row per observation; the columns are documented in harness.frames)."""
    from harness.errors import SpecError
    from harness.frames import TABLES, load_results
    from harness.fsutil import Destination, atomic_write_bytes, writable_folder

    if fmt not in FORMATS:
        raise SpecError(f"--format '{fmt}' is not an export format", hint="use --format parquet, csv or mteb")
    results = load_results(results_dir)
    folder = output if output is not None else (results_dir if results_dir.is_dir() else results_dir.parent) / "export"
    dest = Destination("the export folder", "choose another folder with -o")
    writable_folder(folder, dest)
    if fmt == "mteb":
        from harness.mteb_interop import write_mteb_results

        written, skipped = write_mteb_results(results.result_set, folder)
        for path in written:
            typer.echo(f"{path}")
        for line in skipped:
            typer.echo(f"left out: {line}")
        if not written:
            typer.echo("no MTEB result file written: no cell is on a whole collection MTEB has a task for")
        return
    for name in TABLES:
        frame = getattr(results, name)()
        data = frame.to_parquet(index=False) if fmt == "parquet" else frame.to_csv(index=False).encode("utf-8")
        atomic_write_bytes(folder / f"{name}.{fmt}", data, dest)
        typer.echo(f"{folder / f'{name}.{fmt}'}: {len(frame)} rows")
