"""A model that is the product of training, declared in the spec:

    model: {base: all-MiniLM-L6-v2, train: {data: beir/scifact/train, loss: mnrl,
            negatives: {from: bm25, depth: 50, per_query: 1}, epochs: 1, batch_size: 32,
            lr: 2e-5, seed: 0}}

It is trained once and kept in the artefact store (kind `trained-model`), keyed by the base
model's file hash, the training data's fingerprint, every hyperparameter, the seed and the
versions of torch / sentence-transformers / transformers; the folder holds the model and its
training log (`training.json`). A stage then uses it like any local model folder. The key is
computable without training, so cell keys (resume) never train.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from harness.cache import ArtefactStore, make_key
from harness.data.dataset import Dataset
from harness.data.ref import DatasetRef
from harness.data.resolve import load_dataset
from harness.environment import package_versions
from harness.errors import HarnessError, SpecError
from harness.models.locate import ResolvedModel, resolve_model
from harness.systems import StageContext
from harness.systems._training_data import NegativesConfig, check_disjoint, training_set

Kind = Literal["bi-encoder", "multi-vector"]

FORMAT = 2
"""Bump when what a trained model's folder holds changes (2: the model keeps its own max_length;
a shorter `train.max_length` applies to training only)."""
TRAINING_LOG = "training.json"
_VERSIONED = ("torch", "sentence-transformers", "transformers", "accelerate")


class TrainConfig(BaseModel):
    """`train:` of a model recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    data: DatasetRef
    """A dataset id (`beir/scifact/train`) or a dataset mapping, never the split evaluated."""
    loss: Literal["mnrl", "margin-mse"] = "mnrl"
    negatives: NegativesConfig | None = Field(default_factory=NegativesConfig)
    """Hard negatives mined by BM25 (`null`: in-batch negatives only)."""
    teacher: str | None = Field(default=None, min_length=1)
    """margin-mse: the cross-encoder whose score margins the bi-encoder learns."""
    teacher_scale: float = Field(default=1.0, gt=0.0, le=100.0)
    """margin-mse: multiplies the teacher's margins before the student learns them. A normalised
    bi-encoder's scores are cosines in [-1, 1], a cross-encoder's logits span about ±10."""
    epochs: int = Field(default=1, ge=1, le=100)
    batch_size: int = Field(default=32, ge=2, le=4096)
    lr: float = Field(default=2e-5, gt=0.0, le=1.0)
    warmup_ratio: float = Field(default=0.0, ge=0.0, lt=1.0)
    seed: int = Field(default=0, ge=0)
    max_queries: int | None = Field(default=None, gt=0, description="train on the first N queries only")
    max_steps: int | None = Field(default=None, gt=0, description="exactly N optimiser steps (instead of epochs)")
    max_length: int | None = Field(
        default=None, gt=0, description="tokens per text while training (the saved model keeps its own)"
    )

    @field_validator("data", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        return {"id": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _loss_needs(self) -> TrainConfig:
        if self.loss == "margin-mse" and (self.teacher is None or self.negatives is None):
            raise ValueError("loss margin-mse needs a teacher (a cross-encoder) and negatives")
        if self.loss == "mnrl" and (self.teacher is not None or self.teacher_scale != 1.0):
            raise ValueError("teacher and teacher_scale are settings of loss margin-mse only")
        return self


class ModelRecipe(BaseModel):
    """`model: {base: ..., train: {...}}`: the base model, fine-tuned as `train` says."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    base: str = Field(min_length=1)
    train: TrainConfig


def _branch(value: Any) -> str:
    return "ModelRecipe" if isinstance(value, dict | ModelRecipe) else "Reference"


ModelRef = Annotated[
    Annotated[str, Tag("Reference")] | Annotated[ModelRecipe, Tag("ModelRecipe")],
    Discriminator(_branch),
]
"""A model reference, or a recipe: a mapping is always read as a recipe, so that its mistakes
are reported as the recipe's (not as "not a string")."""


def base_reference(model: str | ModelRecipe) -> str:
    """The model a reference starts from: itself, or a recipe's base."""
    return model if isinstance(model, str) else model.base


def _training_data(recipe: ModelRecipe, ctx: StageContext) -> Dataset:
    ref = recipe.train.data
    # Paths in a spec are relative to the spec, as the datasets' own are.
    files = {k: str(ctx.base_dir / v) for k in ("path", "corpus", "topics", "qrels") if (v := getattr(ref, k))}
    try:
        train = load_dataset(ref.model_copy(update=files), ctx.data_root)
    except HarnessError as exc:
        raise SpecError(f"model.train.data: {exc.message}", hint=exc.hint) from None
    check_disjoint(train, ctx.dataset)
    return train


def recipe_key(
    recipe: ModelRecipe, base: ResolvedModel, train: Dataset, kind: Kind = "bi-encoder", teacher: str | None = None
) -> str:
    """`teacher`: the teacher's fingerprint (`teacher_fingerprint`), when the recipe has one."""
    versions = package_versions()
    return make_key(
        what="trained-bi-encoder" if kind == "bi-encoder" else f"trained-{kind}",
        format=FORMAT,
        base=base.files_hash,
        data=train.fingerprint,
        train=recipe.train.model_dump(mode="json"),
        versions={name: versions.get(name) for name in _VERSIONED},
        **({"teacher": teacher} if teacher is not None else {}),
    )


def teacher_fingerprint(recipe: ModelRecipe, ctx: StageContext) -> str | None:
    """The teacher's model files and what its scores are (as a rerank cell keys them): a changed
    teacher model, or a change in what it scores, trains the student again."""
    if recipe.train.teacher is None:
        return None
    from harness.systems.rerank import Rerank, RerankParams

    return Rerank.input_fingerprint(RerankParams(model=recipe.train.teacher, top=1), ctx)


def recipe_fingerprint(recipe: ModelRecipe, ctx: StageContext, kind: Kind = "bi-encoder") -> str:
    """What a cell key needs of a trained model, without training it."""
    base = resolve_model(recipe.base, kind="bi-encoder", base_dir=ctx.base_dir)
    return recipe_key(recipe, base, _training_data(recipe, ctx), kind, teacher_fingerprint(recipe, ctx))


def trained_folder(
    recipe: ModelRecipe, ctx: StageContext, threads: int | None, kind: Kind
) -> tuple[Path, str, dict[str, Any], bool]:
    """(model folder, its key, training log, whether it was stored already), training it if the
    store does not hold it yet."""
    base = resolve_model(recipe.base, kind="bi-encoder", base_dir=ctx.base_dir)
    train = _training_data(recipe, ctx)
    key = recipe_key(recipe, base, train, kind, teacher_fingerprint(recipe, ctx))

    def build(folder: Path) -> dict[str, Any]:
        return _train(recipe, base, train, ctx, threads, folder, kind)

    folder, meta, cached = ArtefactStore().folder_or_build("trained-model", key, build)
    log = json.loads((folder / TRAINING_LOG).read_text(encoding="utf-8"))
    return folder / "model", key, {**meta, **log}, cached


def resolve_trained(
    recipe: ModelRecipe, ctx: StageContext, threads: int | None
) -> tuple[ResolvedModel, dict[str, Any], bool]:
    """The trained bi-encoder (training it if the store does not hold it yet), its training log
    and whether it was already stored."""
    base = resolve_model(recipe.base, kind="bi-encoder", base_dir=ctx.base_dir)
    model_dir, key, log, cached = trained_folder(recipe, ctx, threads, "bi-encoder")
    resolved = resolve_model(str(model_dir), kind="bi-encoder")
    # The folder's own files say how to pool; the base's alias says how to prefix and truncate.
    spec = replace(
        resolved.spec,
        query_prefix=base.spec.query_prefix,
        doc_prefix=base.spec.doc_prefix,
        max_length=base.spec.max_length,
    )
    ref = f"{recipe.base} fine-tuned ({recipe.train.loss}, {key[:12]})"
    return ResolvedModel(ref, "folder", spec, model_dir, resolved.files_hash), log, cached


def _train(
    recipe: ModelRecipe,
    base: ResolvedModel,
    train: Dataset,
    ctx: StageContext,
    threads: int | None,
    folder: Path,
    kind: Kind,
) -> dict[str, Any]:
    from harness.models.st_training import TrainingRun, train_bi_encoder

    cfg = recipe.train
    train_ctx = StageContext(ctx.base_dir, ctx.data_root, train, progress=ctx.progress)
    data = training_set(train, cfg.negatives, train_ctx, cfg.max_queries)
    margins: list[list[float]] = []
    teacher: dict[str, Any] = {}
    if cfg.loss == "margin-mse":
        from harness.systems._teacher import teacher_margins

        t0 = time.perf_counter()
        raw = teacher_margins(cfg.teacher or "", data, train_ctx)
        margins = [[m * cfg.teacher_scale for m in row] for row in raw]
        flat = [m for row in raw for m in row]
        teacher = {
            "teacher_margin_mean": statistics.fmean(flat) if flat else None,
            "teacher_margin_sd": statistics.pstdev(flat) if flat else None,
            "teacher_s": time.perf_counter() - t0,
            # The share of examples whose positive the teacher scores above the mined negative:
            # where it is low, the teacher disagrees with the judgments it is distilled against.
            "teacher_agrees": sum(1 for m in flat if m > 0) / len(flat) if flat else None,
        }
    run = TrainingRun(
        queries=[e.query for e in data.examples],
        positives=[e.positive for e in data.examples],
        negatives=[list(e.negatives) for e in data.examples],
        loss=cfg.loss,
        kind=kind,
        margins=margins,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        warmup_ratio=cfg.warmup_ratio,
        seed=cfg.seed,
        max_steps=cfg.max_steps,
        max_length=cfg.max_length,
        threads=threads,
        progress=ctx.progress,
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    log = train_bi_encoder(base.path, run, folder / "model", folder / "work")
    log.update(
        {
            "base": base.describe(),
            "data": train.name,
            "data_fingerprint": train.fingerprint,
            "queries": data.queries,
            "examples_without_negatives": data.without_negatives,
            "mining_s": data.mining_s,
            "wall_s": time.perf_counter() - t0,
            "peak_rss_bytes": max(rss_before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
            "config": cfg.model_dump(mode="json"),
            **teacher,
            "pid": os.getpid(),
        }
    )
    _remove_tree(folder / "work")
    (folder / TRAINING_LOG).write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")
    return {"seconds": log["wall_s"], "steps": log["steps"], "data": train.name}


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def training_costs(log: dict[str, Any] | None, cached: bool) -> dict[str, Any]:
    """A trained model's training, for the stage's offline costs (nothing for other models)."""
    if log is None:
        return {}
    return {
        "train_s": log.get("train_s"),
        "train_steps": log.get("steps"),
        "train_steps_per_s": log.get("steps_per_s"),
        "train_examples": log.get("examples"),
        "train_loss": log.get("final_loss"),
        "train_peak_rss_bytes": log.get("peak_rss_bytes"),
        "train_cached": cached,
    }
