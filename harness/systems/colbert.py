"""Late interaction (ColBERT): the `top` candidates of the stage before it re-ranked by exact
MaxSim between the query's and each document's token vectors.

    bm25-colbert:
      - {type: bm25, depth: 100}
      - {type: colbert, model: {base: all-MiniLM-L6-v2, train: {data: beir/scifact/train}}, top: 100}

The model is a sentence-transformers `MultiVectorEncoder` (a ColBERT checkpoint folder, PyLate's
included, or a Hugging Face id; or a recipe: a bi-encoder base gets ColBERT's 128-d projection
and is trained as `train:` says, see `_trained_model`). PyLate itself cannot be installed beside
the pinned torch / sentence-transformers / transformers, and its PLAID index needs torch <= 2.11,
so retrieval over the whole corpus is left to a first stage and this stage re-ranks exactly.

Every document's token vectors are encoded once per model and corpus into the artefact cache
(float16, one matrix for the corpus plus row offsets, memory-mapped); a query is encoded at
search time (its `encode` step) and scored against its candidates' rows (`search`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

from pydantic import Field

from harness.cache import ArtefactStore, make_key
from harness.errors import ModelError, SystemConfigError
from harness.models.locate import ResolvedModel, resolve_model
from harness.records import Query, Run, ScoredDoc
from harness.systems import STAGES, Stage, StageContext, StageParams
from harness.systems._indexing import corpus_batches, corpus_fingerprint, corpus_ids, doc_text, unknown_candidate
from harness.systems._trained_model import (
    ModelRecipe,
    ModelRef,
    recipe_fingerprint,
    trained_folder,
    training_costs,
)
from harness.systems.rerank import cascade
from harness.threads import applied_threads

FORMAT = 1
TOKENS, OFFSETS = "tokens.npy", "offsets.npy"


class ColbertParams(StageParams):
    model: ModelRef = Field(description="a ColBERT / multi-vector folder or Hugging Face id, or {base, train}")
    top: int = Field(default=100, gt=0, description="candidates re-scored per query; the rest keep their order")
    batch_size: int = Field(default=32, gt=0)
    threads: int | None = Field(default=None, gt=0, description="torch threads")

    def thread_count(self) -> int | None:
        return self.threads


def _load(path: Path, threads: int | None) -> Any:
    import warnings

    import torch
    from sentence_transformers import MultiVectorEncoder

    from harness.models.st_backend import quiet_hf_loading

    if threads:
        torch.set_num_threads(threads)
    quiet_hf_loading()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return MultiVectorEncoder(str(path), device="cpu", local_files_only=True)
    except Exception as exc:
        raise ModelError(
            f"cannot load {path} as a multi-vector (ColBERT) model: {str(exc).splitlines()[0] if str(exc) else exc}",
            hint="give a ColBERT / MultiVectorEncoder folder, or {base: BI-ENCODER, train: {...}} to train one",
        ) from None


def _is_multi_vector(path: Path) -> bool:
    """A folder of a late-interaction checkpoint: sentence-transformers' MultiVectorEncoder,
    PyLate's (its modules name pylate) or Stanford ColBERT's (artifact.metadata)."""
    import json

    try:
        config = json.loads((path / "config_sentence_transformers.json").read_text(encoding="utf-8"))
        if config.get("model_type") == "MultiVectorEncoder":
            return True
    except (OSError, ValueError):
        pass
    try:
        if "pylate" in (path / "modules.json").read_text(encoding="utf-8"):
            return True
    except OSError:
        pass
    return (path / "artifact.metadata").is_file()


@STAGES.register("colbert")
class Colbert(Stage):
    Params = ColbertParams
    params: ColbertParams
    first_stage = False
    uses_cache: ClassVar[bool] = True
    training: dict[str, Any] | None = None
    training_cached = False

    @staticmethod
    def _resolve_plain(model: str, ctx: StageContext) -> ResolvedModel:
        return resolve_model(model, base_dir=ctx.base_dir)

    @classmethod
    def input_fingerprint(cls, params: StageParams, ctx: StageContext) -> str:
        p = cast(ColbertParams, params)
        if isinstance(p.model, ModelRecipe):
            return recipe_fingerprint(p.model, ctx, "multi-vector")
        return cls._resolve_plain(p.model, ctx).files_hash

    def prepare(self) -> None:
        import numpy as np

        p = self.params
        if isinstance(p.model, ModelRecipe):
            path, key, self.training, self.training_cached = trained_folder(
                p.model, self.ctx, p.threads, "multi-vector"
            )
            files_hash = key
            name = f"{p.model.base} trained as ColBERT ({key[:12]})"
        else:
            resolved = self._resolve_plain(p.model, self.ctx)
            if not _is_multi_vector(resolved.path):
                raise ModelError(
                    f"model '{p.model}' is not a ColBERT (multi-vector) model: its projection would be random",
                    hint=f"train one: model: {{base: {p.model}, train: {{data: ...}}}}; or give a ColBERT folder",
                )
            path, files_hash, name = resolved.path, resolved.files_hash, p.model
        self.encoder = _load(path, p.threads or applied_threads())
        self.doc_ids = corpus_ids(self.ctx.dataset, "ColBERT re-ranking")
        self.row = {d: i for i, d in enumerate(self.doc_ids)}
        key = make_key(
            what="colbert-doc-tokens",
            format=FORMAT,
            model=files_hash,
            corpus=corpus_fingerprint(self.ctx.dataset),
            batch_size=p.batch_size,
        )
        folder, meta, cached = ArtefactStore().folder_or_build("colbert-docs", key, self._encode_corpus)
        self.tokens = np.load(folder / TOKENS, mmap_mode="r")
        self.offsets = np.load(folder / OFFSETS)
        self.costs.update(
            {
                "model": name,
                "docs": len(self.doc_ids),
                "token_vectors": int(self.tokens.shape[0]),
                "dim": int(self.tokens.shape[1]),
                "encode_s": meta.get("seconds"),
                "build_s": meta.get("seconds"),
                "docs_per_s": len(self.doc_ids) / meta["seconds"] if meta.get("seconds") else None,
                "index_bytes": int((folder / TOKENS).stat().st_size),
                "cached": cached,
                **training_costs(self.training, self.training_cached),
            }
        )

    def _encode_corpus(self, folder: Path) -> dict[str, Any]:
        import numpy as np
        from tqdm import tqdm

        t0 = time.perf_counter()
        parts: list[Any] = []
        chunk = self.params.batch_size * 16
        bar = tqdm(total=len(self.doc_ids), desc="colbert: encode docs", unit="doc", disable=not self.progress)
        with bar:
            for docs in corpus_batches(self.ctx.dataset, "ColBERT re-ranking", chunk):
                texts = [doc_text(d, ("title", "text")) for d in docs]
                encoded = self.encoder.encode_document(texts, batch_size=self.params.batch_size, convert_to_numpy=True)
                parts.extend(np.asarray(e, dtype=np.float16) for e in encoded)
                bar.update(len(docs))
        seconds = time.perf_counter() - t0
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(x) for x in parts])
        np.save(folder / TOKENS, np.concatenate(parts) if parts else np.zeros((0, 128), dtype=np.float16))
        np.save(folder / OFFSETS, offsets)
        return {"seconds": seconds, "docs": len(parts), "token_vectors": int(offsets[-1])}

    def _maxsim(self, query: Any, docs: Sequence[ScoredDoc]) -> list[float]:
        """Sum over query tokens of the best dot product with any of the document's tokens."""
        import numpy as np

        rows = []
        for d in docs:
            i = self.row.get(d.doc_id)
            if i is None:
                raise unknown_candidate(d.doc_id, self.ctx.dataset)
            rows.append(i)
        if not rows:
            return []
        starts, ends = self.offsets[rows], self.offsets[np.asarray(rows) + 1]
        gathered = np.concatenate([self.tokens[s:e] for s, e in zip(starts, ends, strict=True)]).astype(np.float32)
        sims = query @ gathered.T  # (query tokens, candidate tokens)
        best = np.maximum.reduceat(sims, np.concatenate([[0], np.cumsum(ends - starts)[:-1]]), axis=1)
        return [float(x) for x in best.sum(axis=0)]

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        import numpy as np

        if previous is None:
            raise SystemConfigError(
                "'colbert' needs candidates from a stage before it",
                hint="start the pipeline with a retriever such as bm25, run or use",
            )
        with self.part("encode"):
            encoded = self.encoder.encode_query(
                [q.text for q in queries], batch_size=self.params.batch_size, convert_to_numpy=True
            )
        out: dict[str, list[ScoredDoc]] = {}
        with self.part("search"):
            for q, vectors in zip(queries, encoded, strict=True):
                candidates = previous.get(q.query_id, ())
                head = candidates[: self.params.top]
                out[q.query_id] = cascade(candidates, self._maxsim(np.asarray(vectors, dtype=np.float32), head))
        return Run(out)
