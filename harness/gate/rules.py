"""The gate's rules from raw `gate:` mappings (a spec file, results.json, the command line)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from harness.errors import GateError
from harness.sections import GateRules


def validate_rules(raw: Mapping[str, Any] | None, *, source: str = "gate") -> GateRules:
    """A `gate:` mapping as GateRules; a GateError names the key and what is accepted."""
    try:
        return GateRules.model_validate(dict(raw or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise GateError(
                f"{source}: unknown key '{where}'", hint="valid keys: " + ", ".join(GateRules.model_fields)
            ) from None
        raise GateError(
            f"{source}.{where}: {err['msg']} (got {err.get('input')!r})",
            hint="see harness/gate/__init__.py for the rules and their defaults",
        ) from None


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
    return validate_rules(merged)
