"""`harness export RESULTS_DIR --format parquet|csv`: the results' tables (harness.frames) as files
for pandas, Spark, DuckDB or a spreadsheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

FORMATS = ("parquet", "csv")


def export_cmd(
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="folder holding results.json")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet or csv")] = "parquet",
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
        raise SpecError(f"--format '{fmt}' is not a table format", hint="use --format parquet or --format csv")
    results = load_results(results_dir)
    folder = output if output is not None else (results_dir if results_dir.is_dir() else results_dir.parent) / "export"
    dest = Destination("the export folder", "choose another folder with -o")
    writable_folder(folder, dest)
    for name in TABLES:
        frame = getattr(results, name)()
        data = frame.to_parquet(index=False) if fmt == "parquet" else frame.to_csv(index=False).encode("utf-8")
        atomic_write_bytes(folder / f"{name}.{fmt}", data, dest)
        typer.echo(f"{folder / f'{name}.{fmt}'}: {len(frame)} rows")
