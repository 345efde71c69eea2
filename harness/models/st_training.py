"""Fine-tuning a sentence-transformers bi-encoder: SentenceTransformerTrainer with in-batch
negatives (MultipleNegativesRankingLoss, batches without duplicate texts) or MarginMSE against a
teacher's score margins, on CPU, seeded. On this machine's CPUs the result is bit-identical from
run to run (same seed, same data, same library versions): the artefact cache keys it by all
three.

The harness draws one progress bar per training (steps, with the latest loss); the trainer's own
bars and logs are off. Needs `accelerate` (the `train` extra), imported only here.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import ModelError

Loss = Literal["mnrl", "margin-mse"]
Kind = Literal["bi-encoder", "multi-vector"]
"""bi-encoder: a SentenceTransformer (one vector per text); multi-vector: a MultiVectorEncoder
(ColBERT: one vector per token, scored by MaxSim; a bi-encoder base gets a new 128-d projection)."""


@dataclass(frozen=True)
class TrainingRun:
    """What a training run needs besides the base model: the texts and the hyperparameters."""

    queries: Sequence[str]
    positives: Sequence[str]
    negatives: Sequence[Sequence[str]]
    """Per example, its hard negatives (every example the same number, possibly none)."""
    loss: Loss = "mnrl"
    kind: Kind = "bi-encoder"
    margins: Sequence[Sequence[float]] = ()
    """margin-mse: per example, teacher(query, positive) - teacher(query, negative_i)."""
    epochs: int = 1
    batch_size: int = 32
    lr: float = 2e-5
    warmup_ratio: float = 0.0
    seed: int = 0
    max_steps: int | None = None
    max_length: int | None = None
    threads: int | None = None
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def _st_module(name: str) -> Any:
    """sentence_transformers.sentence_transformer.NAME (6.x), else sentence_transformers.NAME (5.x)."""
    import importlib

    try:
        return importlib.import_module(f"sentence_transformers.sentence_transformer.{name}")
    except ImportError:
        return importlib.import_module(f"sentence_transformers.{name}")


def _dataset(run: TrainingRun) -> Any:
    from datasets import Dataset

    columns: dict[str, list[Any]] = {"anchor": list(run.queries), "positive": list(run.positives)}
    width = len(run.negatives[0]) if run.negatives else 0
    for i in range(width):
        columns[f"negative_{i + 1}"] = [n[i] for n in run.negatives]
    if run.loss == "margin-mse":
        columns["label"] = [list(m) if len(m) > 1 else m[0] for m in run.margins]
    return Dataset.from_dict(columns)


def _callback(bar: Any) -> Any:
    from transformers import TrainerCallback

    class _Bar(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            bar.update(1)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                bar.set_postfix_str(f"loss {float(logs['loss']):.4f}")

    return _Bar()


def _classes(kind: Kind, loss: Loss) -> tuple[Any, Any, Any, Any]:
    """(model class, trainer class, training-arguments class, loss class) of `kind`."""
    import importlib

    if kind == "multi-vector":
        mve = importlib.import_module("sentence_transformers.multi_vector_encoder")
        losses = importlib.import_module("sentence_transformers.multi_vector_encoder.losses")
        name = "MultiVectorMultipleNegativesRankingLoss" if loss == "mnrl" else "MultiVectorMarginMSELoss"
        return (
            mve.MultiVectorEncoder,
            mve.MultiVectorEncoderTrainer,
            mve.MultiVectorEncoderTrainingArguments,
            getattr(losses, name),
        )
    st = importlib.import_module("sentence_transformers")
    name = "MultipleNegativesRankingLoss" if loss == "mnrl" else "MarginMSELoss"
    return (
        st.SentenceTransformer,
        st.SentenceTransformerTrainer,
        _st_module("training_args").SentenceTransformerTrainingArguments,
        getattr(_st_module("losses"), name),
    )


def train_bi_encoder(base: Path, run: TrainingRun, out: Path, workdir: Path) -> dict[str, Any]:
    """Train `base` (a sentence-transformers folder) on `run` as a model of `run.kind`, save it
    into `out`, and return the training log: steps, wall time, steps/s, per-step loss."""
    try:
        import accelerate  # noqa: F401  # the trainer needs it; say so before the model loads
    except ImportError:
        raise ModelError(
            "training a model needs accelerate and datasets", hint='pip install "harness[train]"'
        ) from None
    import torch
    from tqdm import tqdm
    from transformers.utils import logging as hf_logging

    model_class, trainer_class, args_class, loss_class = _classes(run.kind, run.loss)
    BatchSamplers = _st_module("training_args").BatchSamplers
    if run.threads:
        torch.set_num_threads(run.threads)
    quiet: Any = hf_logging.set_verbosity_error  # untyped in transformers
    quiet()
    # "Converting SentenceTransformer model ... to MultiVectorEncoder": the harness says what it trains.
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    from harness.models.st_backend import quiet_hf_loading

    quiet_hf_loading()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(run.seed)  # a multi-vector model's new projection starts from random weights
        model = model_class(str(base), device="cpu", local_files_only=True)
    saved_length = model.max_seq_length
    if run.max_length:
        model.max_seq_length = run.max_length
    # The model card's widget examples are computed with a progress bar of their own; the card
    # is not what the harness keeps.
    card: Any = getattr(model, "model_card_data", None)
    if card is not None and hasattr(card, "widget"):
        card.widget = [{"text": "fine-tuned by harness"}]  # a card with widgets computes none
    loss = loss_class(model)
    args = args_class(
        output_dir=str(workdir),
        num_train_epochs=run.epochs,
        max_steps=run.max_steps if run.max_steps else -1,
        per_device_train_batch_size=run.batch_size,
        learning_rate=run.lr,
        **({"warmup_steps": run.warmup_ratio} if run.warmup_ratio else {}),
        seed=run.seed,
        data_seed=run.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES if run.loss == "mnrl" else BatchSamplers.BATCH_SAMPLER,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        logging_steps=1,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    dataset = _dataset(run)
    steps_total = run.max_steps or run.epochs * -(-len(dataset) // run.batch_size)
    with tqdm(total=steps_total, desc="training", unit="step", disable=not run.progress, file=sys.stderr) as bar:
        trainer = trainer_class(model=model, args=args, train_dataset=dataset, loss=loss, callbacks=[_callback(bar)])
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # it prints every log line; the bar shows the loss
        t0 = time.perf_counter()
        result = trainer.train()
        train_s = time.perf_counter() - t0
    # A shorter training length is for training only: the saved model keeps its own, so that
    # the stage that uses it reads whole documents (a ColBERT keeps one vector per token).
    model.max_seq_length = saved_length
    model.save(str(out))
    history = [{"step": int(h["step"]), "loss": float(h["loss"])} for h in trainer.state.log_history if "loss" in h]
    steps = int(result.global_step)
    return {
        "steps": steps,
        "train_s": train_s,
        "steps_per_s": steps / train_s if train_s > 0 else None,
        "examples": len(dataset),
        "final_loss": history[-1]["loss"] if history else None,
        "mean_loss": float(result.training_loss),
        "history": history,
        **run.extra,
    }
