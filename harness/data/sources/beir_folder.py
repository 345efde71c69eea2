"""A BEIR-format folder, named by `path` or by an id under the local data root."""

from __future__ import annotations

from pathlib import Path

from harness.data.beir_files import is_beir_folder, load_beir, splits
from harness.data.ref import DatasetRef
from harness.data.sources import SOURCES, Loaded


def locate(ref: DatasetRef, data_root: Path) -> tuple[Path, str] | None:
    """(folder, split) for a ref, or None when it does not name a local BEIR folder."""
    if ref.topics or ref.qrels:
        return None
    if ref.path:
        return Path(ref.path), ref.split or "test"
    if not ref.id:
        return None
    whole = data_root / ref.id
    if is_beir_folder(whole):
        return whole, ref.split or "test"
    head, _, last = ref.id.rstrip("/").rpartition("/")
    if head and is_beir_folder(data_root / head) and ref.split is None and last in splits(data_root / head):
        return data_root / head, last
    return None


class BeirFolder:
    priority = 10

    def matches(self, ref: DatasetRef, data_root: Path) -> bool:
        return locate(ref, data_root) is not None

    def load(self, ref: DatasetRef, data_root: Path) -> Loaded:
        found = locate(ref, data_root)
        assert found is not None  # matches() was checked by the resolver
        folder, split = found
        docs, queries, qrels = load_beir(folder, split)
        return Loaded(docs, queries, qrels, f"{folder}#{split}")


SOURCES.register("beir")(BeirFolder())
