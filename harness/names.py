"""Names: what a system name denotes (`resolve_variant_name`, the one resolver the plan and the
results share), did-you-mean suggestions, and file names made from dataset and system names
(one rule for run files, cell records and plots).

Names come from specs and may hold anything ('/', spaces, markup). The character set kept is
the one run files have always been named with, so an existing output folder's
`runs/<dataset>/<system>.trec.gz` keep their names and its cells resume instead of recomputing.

Imports nothing from harness but errors.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterable, Mapping

from harness.errors import HarnessError, SpecError

_UNSAFE = re.compile(r"[^A-Za-z0-9._=,@+-]")
_SAFE_CHARACTERS = "letters, digits and . _ = , @ + -"


def did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""


def resolve_variant_name(
    name: str, bases: Mapping[str, str], referrer: str, missing: str, error: type[HarnessError]
) -> str:
    """The system variant `name` denotes: a variant name, or a base name with exactly one variant.

    `bases` maps every variant name to its base name, in spec order. A sweep's base name is
    ambiguous and an unknown name is unknown: both raise `error` ("{referrer} system 'x', which
    {missing}"), with the variants or a did-you-mean as the hint."""
    if name in bases:
        return name
    of_base = [v for v, b in bases.items() if b == name]
    if len(of_base) == 1:
        return of_base[0]
    if of_base:
        raise error(
            f"{referrer} '{name}', which is a sweep of {len(of_base)} variants",
            hint="name one variant exactly: " + ", ".join(of_base),
        )
    names = list(bases)
    raise error(
        f"{referrer} system '{name}', which {missing}",
        hint=f"{did_you_mean(name, names)}systems: {', '.join(names)}",
    )


def slug(name: str) -> str:
    """`name` as one file-name component (never empty, never '.' or '..', never a path).

    Every character outside A-Z a-z 0-9 . _ = , @ + - becomes '_', one for one (sweep variant
    names such as `bm25@k1=0.9` keep theirs); leading and trailing dots go, so a name can
    neither climb out of its folder nor become a hidden file."""
    return _UNSAFE.sub("_", name).strip(".") or "_"


def unique_slugs(names: Iterable[str]) -> dict[str, str]:
    """{name: slug} with distinct slugs: a later name whose slug is taken gets `-2`, `-3`, ...

    For files the report writes itself (plots), where renaming is harmless; the runner refuses
    colliding names instead (`slug_collisions`), since its file names are looked up again."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in dict.fromkeys(names):
        s = base = slug(name)
        i = 2
        while s in used:
            s = f"{base}-{i}"
            i += 1
        used.add(s)
        out[name] = s
    return out


def slug_collisions(names: Iterable[str]) -> list[tuple[str, str]]:
    """Every pair (a, b) of distinct names, in the order given, that `slug` maps to one file name."""
    by_slug: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        by_slug.setdefault(slug(name), []).append(name)
    return [pair for group in by_slug.values() for pair in itertools.combinations(group, 2)]


def refuse_slug_collisions(names: Iterable[str], what: str) -> None:
    """Raise SpecError naming the first two `what` (e.g. 'systems') that would share a file name."""
    pairs = slug_collisions(names)
    if pairs:
        a, b = pairs[0]
        raise SpecError(
            f"{what} '{a}' and '{b}' would both be written to files named '{slug(a)}'",
            hint=f"rename one of them; file names keep {_SAFE_CHARACTERS}, other characters become '_'"
            " and end dots are dropped",
        )
