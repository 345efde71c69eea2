"""Any model reference (alias, local folder, Hugging Face id) resolved to a folder of files.

`resolve_model(ref)` returns a `ResolvedModel`: the folder holding the files, how to load them
(kind, backend, pooling, prefixes: from the alias table, else inferred from the files) and the
content hash of the files, which is what cache keys use.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from harness.errors import ModelError
from harness.models.aliases import MODELS, Backend, Kind, ModelSpec, Pooling, aliases_hint
from harness.models.model_files import check_files, folder_hash, weight_files
from harness.names import did_you_mean

Source = Literal["alias", "folder", "huggingface"]


@dataclass(frozen=True)
class ResolvedModel:
    """A model reference made concrete: where the files are and what they hash to."""

    ref: str
    source: Source
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


# --- aliases: folders inside installed packages ------------------------------------------------


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


# --- folders without an alias: settings inferred from their files -------------------------------


def _config_int(path: Path, key: str, default: int) -> int | None:
    """`key` of a JSON config file as an int: None when the file is absent, `default` when it
    cannot be read."""
    if not path.is_file():
        return None
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get(key, default))
    except (OSError, json.JSONDecodeError, TypeError, ValueError):
        return default


def _st_pooling(folder: Path) -> tuple[Pooling | None, bool]:
    """(pooling, normalize) from a sentence-transformers folder's module configs."""
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
    return pooling, normalize


def _infer_kind(folder: Path) -> Kind:
    """From the transformers architecture: masked LM is SPLADE, sequence classification a
    cross-encoder, anything else a bi-encoder."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        archs = " ".join(config.get("architectures") or [])
    except (OSError, json.JSONDecodeError, AttributeError):
        return "bi-encoder"
    if "MaskedLM" in archs:
        return "sparse"
    if "SequenceClassification" in archs:
        return "cross-encoder"
    return "bi-encoder"


def _infer_spec(ref: str, folder: Path, kind: Kind | None) -> ModelSpec:
    """Guess loading settings from a folder's files (sentence-transformers config wins)."""
    backend: Backend = "sentence-transformers"
    torch_weights = (folder / "model.safetensors").is_file() or (folder / "pytorch_model.bin").is_file()
    if (folder / "model.onnx").is_file() and not torch_weights:
        backend = "onnx"
    pooling, normalize = _st_pooling(folder)
    # vectrix's own config, when present, wins over the sentence-transformers one.
    found = (
        _config_int(folder / "vectrix_config.json", "max_length", 512),
        _config_int(folder / "sentence_bert_config.json", "max_seq_length", 512),
    )
    max_length = next((n for n in found if n is not None), 512)
    if kind is None:
        kind = _infer_kind(folder)
    return ModelSpec(
        name=ref,
        kind=kind,
        backend=backend,
        pooling=pooling or ("max" if kind == "sparse" else "mean"),
        normalize=normalize,
        max_length=max_length,
        precision="int8" if backend == "onnx" and "quant" in " ".join(weight_files(folder)) else "fp32",
    )


# --- Hugging Face ids ----------------------------------------------------------------------------


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


# --- any reference -------------------------------------------------------------------------------


def _unaliased_folder(ref: str, base_dir: Path | None) -> tuple[Path, Source]:
    """A reference that is no alias: a local folder (relative to `base_dir`), else an HF id."""
    p = Path(ref).expanduser()
    if not p.is_absolute() and base_dir is not None and (base_dir / p).exists():
        p = base_dir / p
    if p.exists() or ref.startswith((".", "/", "~")) or (os.sep in ref and not _looks_like_hf_id(ref)):
        if not p.is_dir():
            raise ModelError(
                f"model '{ref}' is not a known alias and no folder exists at {p}",
                hint=f"{did_you_mean(ref, list(MODELS))}{aliases_hint()}",
            )
        return p.resolve(), "folder"
    if _looks_like_hf_id(ref):
        return _hf_folder(ref), "huggingface"
    raise ModelError(f"unknown model '{ref}'", hint=f"{did_you_mean(ref, list(MODELS))}{aliases_hint()}")


def resolve_model(ref: str, *, kind: Kind | None = None, base_dir: Path | None = None) -> ResolvedModel:
    """Alias, else local folder (relative to `base_dir`), else Hugging Face id.

    `kind` is what the caller needs; an alias of another kind is an error, and a folder or
    Hugging Face id without an alias entry is assumed to be of that kind."""
    ref = ref.strip()
    if not ref:
        raise ModelError("empty model reference", hint=aliases_hint())
    spec = MODELS.get(ref)
    source: Source
    if spec is not None:
        folder, source = _package_folder(spec), "alias"
    else:
        folder, source = _unaliased_folder(ref, base_dir)
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
