"""One-line messages for pydantic validation errors, shared by everything that validates typed
settings (the spec loader, the gate's command-line rules, `harness compare` overrides): the key,
the keys valid there with a did-you-mean, and the error's location (for a file's line number)."""

from __future__ import annotations

import re
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from harness.names import did_you_mean, shorten

Loc = tuple[str | int, ...]
_NUMBER_TEXT = re.compile(r"[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, unions, lists, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _models_in(a)]


def _model_at(model: type[BaseModel] | None, loc: Loc) -> type[BaseModel] | None:
    """The model whose keys are checked at `loc` (pydantic's error location), if it can be told."""
    candidates = [model] if model is not None else []
    for part in loc:
        if isinstance(part, int):
            continue
        named = [m for m in candidates if m.__name__ == part]  # pydantic names the union branch it tried
        if named:
            candidates = named
            continue
        fields = [m.model_fields[part] for m in candidates if part in m.model_fields]
        if fields:
            candidates = [m for f in fields for m in _models_in(f.annotation)]
        elif not str(part).startswith(("function-", "json-")):
            return None
    return candidates[0] if len(candidates) == 1 else None


def format_pydantic(exc: ValidationError, model: type[BaseModel] | None) -> tuple[str, Loc]:
    """The first error as one line, and its location (for the file's line number)."""
    errors = exc.errors()
    err = errors[0]
    if err["type"] == "missing":
        # `trian:` is both a missing `train` and an unknown `trian`: the unknown key says which.
        parent = tuple(err["loc"][:-1])
        unknown = [e for e in errors if e["type"] == "extra_forbidden" and tuple(e["loc"][:-1]) == parent]
        err = unknown[0] if unknown else err
    # A tagged union names its branch in the location ("ModelRecipe"); the file has no such key.
    loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p[:1].isupper() and p[1:2].islower()))
    field = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        names = [f.alias or n for n, f in owner.model_fields.items()] if owner is not None else []
        hint = did_you_mean(str(loc[-1]), names)  # "did you mean 'x'? " or ""
        msg = f"unknown key '{loc[-1]}'" + (f"; {hint}valid keys: {', '.join(names)}" if names else "")
    elif err["type"] == "missing":
        msg = f"missing required key '{field}'"
    else:
        value = err.get("input")
        # A whole section's own check names what is wrong; its input is the section itself.
        own_check = err["type"] == "value_error" and (value is None or isinstance(value, dict))
        shown = "" if own_check else f" (got {shorten(repr(value), 60)})"
        msg = f"'{field}': {err['msg'].removeprefix('Value error, ')}{shown}"
        fix = _type_fix(err) or _literal_fix(err)
        msg += f"; {fix}" if fix else ""
    return msg, loc


def _literal_fix(err: ErrorDetails) -> str:
    """A did-you-mean for a word that is not one of the words a key takes."""
    value, ctx = err.get("input"), err.get("ctx") or {}
    if err["type"] != "literal_error" or not isinstance(value, str):
        return ""
    words = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
    return did_you_mean(value, words).strip()


def _type_fix(err: ErrorDetails) -> str:
    """How to write a value whose YAML type is not the one the key takes (the models are strict:
    harness.systems.StageParams says why)."""
    kind, value = err["type"], err.get("input")
    if value is None and kind.endswith("_type"):
        return "the key has no value (YAML reads nothing, ~ and null as null): give one or leave the key out"
    if isinstance(value, bool) and kind != "bool_type":
        fix = "write a number" if kind in ("int_type", "float_type") else "quote the word if it is text"
        return f"YAML reads unquoted yes, no, on, off, true and false as booleans: {fix}"
    if kind == "int_type" and isinstance(value, float):
        return "write a whole number, without a decimal point"
    if kind in ("int_type", "float_type") and isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        if "e" in value.lower():
            return "YAML 1.1 reads an exponent without a dot and a sign as text: write 1000 or 1.0e+3, not 1e3"
        return "write the number without quotes"
    if kind == "string_type" and isinstance(value, (int, float)):
        return "YAML read a number: quote it if it is text"
    if kind == "bool_type":
        return "write true or false"
    return ""
