"""Names: what a system name denotes (`resolve_variant_name`, the one resolver the plan and the
results share), did-you-mean suggestions, and file names made from dataset and system names
(one rule for run files, cell records and plots).

Names come from specs and may hold anything ('/', spaces, markup). The character set kept is
the one run files have always been named with, so an existing output folder's
`runs/<dataset>/<system>.trec.gz` keep their names and its cells resume instead of recomputing.

Two names whose file names differ only in case are refused too: on the case-insensitive file
systems of macOS and Windows they would be one file, and output folders travel between
machines. A file name longer than the file system allows (`name_max`, never more than the
portable 255 bytes) is refused when the spec loads rather than failing after hours of work.

Imports nothing from harness but errors.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from harness.errors import HarnessError, SpecError

_UNSAFE = re.compile(r"[^A-Za-z0-9._=,@+-]")
_SAFE_CHARACTERS = "letters, digits and . _ = , @ + -"
_LISTED = 20  # names an error lists at most: a sweep can have thousands
NAME_MAX = 255
"""Bytes in a file name on ext4, XFS, Btrfs, APFS and NTFS; the limit even where a file
system allows more, so that a spec accepted here runs anywhere."""
SYSTEM_FILE_SUFFIX = ".trec.gz"
"""The longest ending added to a system's slug: runs/<dataset>/<system>.trec.gz (cell records
end in .json)."""
DATASET_FILE_SUFFIX = "-tradeoff.svg"
"""The longest ending added to a dataset's slug: report plots <dataset>-{tradeoff,winloss}.{png,svg}
(runs/<dataset>/ and cells/<dataset>/ add none)."""


def shorten(text: str, limit: int = 40) -> str:
    """`text` cut to about `limit` characters, for quoting user input in a one-line message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
            hint="name one variant exactly: " + _some(of_base),
        )
    names = list(bases)
    raise error(
        f"{referrer} system '{name}', which {missing}",
        hint=f"{did_you_mean(name, names)}systems: {_some(names)}",
    )


def _some(names: list[str]) -> str:
    """The first names, for a message (a sweep can have thousands)."""
    more = len(names) - _LISTED
    return ", ".join(names[:_LISTED]) + (f" and {more} more" if more > 0 else "")


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
    used: set[str] = set()  # lower case: 'A.png' and 'a.png' are one file on macOS and Windows
    for name in dict.fromkeys(names):
        s = base = slug(name)
        i = 2
        while s.lower() in used:
            s = f"{base}-{i}"
            i += 1
        used.add(s.lower())
        out[name] = s
    return out


def slug_collisions(names: Iterable[str]) -> list[tuple[str, str]]:
    """Every pair (a, b) of distinct names, in the order given, that `slug` maps to one file name
    on a case-insensitive file system."""
    by_slug: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        by_slug.setdefault(slug(name).lower(), []).append(name)
    return [pair for group in by_slug.values() for pair in itertools.combinations(group, 2)]


def refuse_slug_collisions(names: Iterable[str], what: str) -> None:
    """Raise SpecError naming the first two `what` (e.g. 'systems') that would share a file name."""
    pairs = slug_collisions(names)
    if pairs:
        a, b = pairs[0]
        same = f"files named '{slug(a)}'"
        if slug(a) != slug(b):
            same = f"'{slug(a)}' and '{slug(b)}', one file on a case-insensitive file system (macOS, Windows)"
        raise SpecError(
            f"{what} '{a}' and '{b}' would both be written to {same}",
            hint=f"rename one of them; file names keep {_SAFE_CHARACTERS}, other characters become '_'"
            " and end dots are dropped",
        )


def name_max(directory: Path) -> int:
    """The longest file name, in bytes, that the file system of `directory` (or of its nearest
    existing parent: output folders are made later) allows; at most `NAME_MAX`."""
    d = directory.absolute()
    try:
        while not d.is_dir() and d != d.parent:
            d = d.parent
        limit = os.pathconf(d, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), unreadable, no limit
        return NAME_MAX
    return min(limit, NAME_MAX) if limit > 0 else NAME_MAX


def staged(file_name: str) -> str:
    """The name a file has while it is written: harness.fsutil stages every file beside its
    place as `.<name>.<8 random characters>.tmp` (tempfile.mkstemp), then renames it."""
    return f".{file_name}.XXXXXXXX.tmp"


def refuse_long_file_name(name: str, what: str, suffix: str, limit: int, *, folder: bool = False) -> None:
    """Raise SpecError if a file named `slug(name) + suffix` (or a folder named `slug(name)`)
    would have a name longer than `limit` bytes while it is written or after."""
    longest = slug(name) if folder else staged(slug(name) + suffix)
    size = len(longest.encode())  # slug keeps ASCII only: characters are bytes
    if size > limit:
        raise SpecError(
            f"{what} '{shorten(name)}' makes a file name of {size} bytes ('{shorten(longest)}'), "
            f"more than the {limit} bytes a file name may have here",
            hint=f"shorten the name to at most {limit - (size - len(slug(name)))} characters",
        )
