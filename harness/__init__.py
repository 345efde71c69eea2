"""harness: offline information-retrieval evaluation and benchmarking.

`harness.load_results(DIR)` gives a results folder as pandas DataFrames (harness.frames); the
import is deferred, so `import harness` loads nothing heavy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.frames import Results, load_results

__version__ = "0.1.0"
__all__ = ["Results", "__version__", "load_results"]


def __getattr__(name: str) -> Any:
    if name in ("load_results", "Results"):
        from harness import frames

        return getattr(frames, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
