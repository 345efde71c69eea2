"""`harness cache list|clear`: what the artefact store holds (embeddings, indexes, scores)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

CacheDirOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option("--cache-dir", help="artefact store (default: $HARNESS_CACHE_DIR, else ~/.cache/harness)"),
]


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover - the loop always returns


def _describe(meta: dict[str, object]) -> str:
    parts = []
    model = meta.get("model")
    if isinstance(model, dict):
        parts.append(str(model.get("ref", "")))
    if isinstance(meta.get("path"), str):
        parts.append("/".join(Path(str(meta["path"])).parts[-3:]))
    for key in ("dataset", "data", "type", "docs", "dim", "nnz", "steps"):
        if key in meta:
            parts.append(f"{key}={meta[key]}")
    if isinstance(meta.get("seconds"), (int, float)):
        parts.append(f"{float(meta['seconds']):.1f}s to compute")  # type: ignore[arg-type]
    return " ".join(p for p in parts if p)


cache_app = typer.Typer(no_args_is_help=True, help="List, size and clear the artefact cache.")


@cache_app.command("list")
def list_cmd(
    cache_dir: CacheDirOpt = None,
    entries: Annotated[bool, typer.Option("-e", "--entries", help="a line per entry, not only per kind")] = False,
) -> None:
    """Entries and sizes per kind (embeddings, faiss-index, sparse-vectors, ...)."""
    from harness.cache import ArtefactStore
    from harness.tables import render_table

    store = ArtefactStore(cache_dir)
    items = store.entries()
    typer.echo(f"cache: {store.root}")
    if not items:
        typer.echo("(empty)")
        return
    kinds: dict[str, list[int]] = {}
    for e in items:
        kinds.setdefault(e.kind, []).append(e.size)
    rows = [(kind, len(kinds[kind]), human(sum(kinds[kind]))) for kind in sorted(kinds)]
    total = ("total", len(items), human(sum(e.size for e in items)))
    typer.echo(render_table(("kind", "entries", "size"), rows, align="lrr", footer=[total]))
    if entries:
        listed = [(e.kind, e.key[:16], human(e.size), _describe(e.meta)) for e in sorted(items, key=lambda x: x.kind)]
        typer.echo("")
        typer.echo(render_table(("kind", "key", "size", "what"), listed, align="llrl"))


@cache_app.command("clear")
def clear_cmd(
    cache_dir: CacheDirOpt = None,
    kind: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--kind", help="clear only this kind (see `harness cache list`)"),
    ] = None,
) -> None:
    """Remove every entry, or every entry of one kind; only what harness wrote is removed."""
    from harness.cache import ArtefactStore
    from harness.errors import CacheError
    from harness.names import did_you_mean

    store = ArtefactStore(cache_dir)
    state = store.state()
    if state in ("missing", "empty"):
        typer.echo(f"nothing to clear: {store.root} " + ("does not exist" if state == "missing" else "is empty"))
        return
    store.require_cache()  # a file, or a folder harness did not make: refused, nothing removed
    if kind is not None:
        known = sorted({e.kind for e in store.entries()})
        if kind not in known:
            raise CacheError(
                f"the cache holds no entries of kind '{kind}'",
                hint=f"{did_you_mean(kind, known)}kinds present: {', '.join(known) or 'none'}",
            )
    removed = store.clear(kind)
    typer.echo(f"removed {removed} entries from {store.root}" + (f" ({kind})" if kind else ""))
    kept = store.foreign_files()
    if kept:
        typer.echo(f"kept {len(kept)} files harness did not write (e.g. {kept[0]})")
