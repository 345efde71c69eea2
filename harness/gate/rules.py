"""The gate's rules: the typed `gate:` settings (results.json, a spec given with --spec) merged
with the command line. The spec's section is parsed by harness.plan when it loads; this module
only merges layers and validates the merged result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from harness.errors import GateError
from harness.sections import GateRules


def merge_rules(*layers: Mapping[str, Any] | None) -> GateRules:
    """Later layers override earlier ones key by key. Thresholds merge per measure on top of the
    defaults: `max_drop: {nDCG@10: 0.005}` keeps the default for every other measure."""
    defaults = GateRules()
    merged: dict[str, Any] = {"max_drop": {"default": defaults.max_drop}, "margin": {"default": defaults.margin}}
    for layer in layers:
        for k, v in (layer or {}).items():
            if k in ("max_drop", "margin"):
                v = v if isinstance(v, dict) else {"default": v}
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
    try:
        return GateRules.model_validate(merged)
    except ValidationError as exc:
        from harness.validation import format_pydantic

        msg, _ = format_pydantic(exc, GateRules)
        raise GateError(f"gate rules: {msg}", hint="check the --max-drop/--margin/--latency-* options") from None
