"""What resolves under a local data root: BEIR folders and their splits, with counts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.data.beir_files import corpus_file, is_beir_folder, splits
from harness.data.textio import read_lines
from harness.data.trec import read_qrels


@dataclass(frozen=True)
class LocalDataset:
    id: str
    docs: int
    queries: int
    judged: int
    judgments: int


def _count_lines(path: Path, what: str) -> int:
    return sum(1 for _, line in read_lines(path, what=what) if line.strip())


def _beir_folders(root: Path, max_depth: int) -> list[Path]:
    if not root.is_dir():
        return []
    folders: set[Path] = set()
    for depth in range(1, max_depth + 1):
        folders.update(p for p in root.glob("/".join(["*"] * depth)) if p.is_dir())
    return [f for f in sorted(folders) if is_beir_folder(f)]


def local_ids(root: Path, max_depth: int = 3) -> list[str]:
    """Every `<folder>/<split>` id under `root`, without reading the files (for did-you-mean)."""
    return [f"{f.relative_to(root).as_posix()}/{split}" for f in _beir_folders(root, max_depth) for split in splits(f)]


def list_local(root: Path, max_depth: int = 3) -> list[LocalDataset]:
    out: list[LocalDataset] = []
    for folder in _beir_folders(root, max_depth):
        cfile = corpus_file(folder)
        assert cfile is not None  # is_beir_folder checked it
        ndocs = _count_lines(cfile, "corpus")
        nq = _count_lines(folder / "queries.jsonl", "queries")
        for split in splits(folder):
            qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
            out.append(
                LocalDataset(
                    id=f"{folder.relative_to(root).as_posix()}/{split}",
                    docs=ndocs,
                    queries=nq,
                    judged=len(qrels),
                    judgments=sum(len(v) for v in qrels.values()),
                )
            )
    return out
