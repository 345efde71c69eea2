"""Options that several commands share, declared once so their help text cannot drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

DataRootOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option("--data-root", help="folder of local datasets (default: $HARNESS_DATA_ROOT or ../shared/data)"),
]


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave: None and empty lists mean "not given" (typer's defaults)."""
    return {k: v for k, v in options.items() if v is not None and v != []}
