"""A click model fitted to a real log (`harness clicks fit`), as the JSON file it is saved in.

The file holds what a simulation needs: the model type, PBM's examination probability per rank,
and, when the fit was given the judgments, the mean fitted attractiveness per relevance grade
(a simulation runs on judged documents, not on the log's own query-document pairs).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import DataError

FORMAT = "harness-click-model/1"


@dataclass(frozen=True)
class FittedModel:
    type: Literal["pbm", "cascade"]
    sessions: int
    examination: list[float | None] | None = None
    """pbm: P(examined) by rank from 1, scaled so that rank 1's is 1 (PBM fixes only products);
    None for a rank the log never shows."""
    attractiveness_by_grade: list[float] | None = None
    """Mean fitted attractiveness of the judged pairs of each grade 0 .. top (None: no judgments)."""
    pairs_by_grade: list[int] | None = None
    iterations: int = 0
    converged: bool = True
    """pbm: EM's changes fell under its tolerance before its iteration cap."""
    pairs_at_several_ranks: float | None = None
    """pbm: share of the log's (query, document) pairs shown at two or more ranks."""
    log_likelihood: float | None = None
    attractiveness: dict[str, dict[str, float]] = field(default_factory=dict)
    """Fitted P(click | examined) per query and document."""
    source: str = ""
    """The file it was read from and its sha256 (set by `read_fitted`)."""

    def to_json(self) -> str:
        body = {k: v for k, v in asdict(self).items() if k != "source"}
        return json.dumps({"format": FORMAT, **body}, indent=1, sort_keys=True) + "\n"


def read_fitted(path: Path) -> FittedModel:
    """Read a fitted model; a file that is not one is a DataError naming it."""
    fix = "write it with `harness clicks fit LOG --qrels QRELS -o FILE`"
    if not path.is_file():
        raise DataError("fitted click model not found", path=path, hint=fix)
    try:
        raw = path.read_bytes()
        data: Any = json.loads(raw)
    except OSError as exc:
        raise DataError(f"cannot read the fitted click model ({exc.strerror})", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"fitted click model is not JSON ({exc})", path=path, hint=fix) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f'not a fitted click model (no "format": "{FORMAT}")', path=path, hint=fix)
    data.pop("format")
    try:
        model = FittedModel(**data)
    except TypeError as exc:
        raise DataError(f"fitted click model has unexpected keys ({exc})", path=path, hint=fix) from None
    if model.type not in ("pbm", "cascade"):
        raise DataError(f"fitted click model has type {model.type!r}; pbm or cascade expected", path=path, hint=fix)
    digest = hashlib.sha256(raw).hexdigest()
    return FittedModel(**{**asdict(model), "source": f"fitted: {path.name} (sha256 {digest[:12]})"})
