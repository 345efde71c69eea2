"""MTEB interop: MTEB's own retrieval evaluation run on a dataset the harness loaded, with a harness
bi-encoder as the model, so that the two evaluations can be checked against each other.

    from harness.mteb_interop import mteb_scores
    scores = mteb_scores(dataset, "all-MiniLM-L6-v2", task="SciFact", precision="fp32")
    scores["ndcg_at_10"]   # MTEB's number, for the harness's encoder on the harness's data

`local_task` wraps the dataset as a subclass of MTEB's own task of that name (its metadata,
splits and scoring; the documents, queries and judgments from the harness, nothing downloaded).
`HarnessEncoder` is the harness's encoder behind MTEB's encoder interface: documents go through
`encode_docs`, queries through `encode_queries`, with the prefixes and precision the harness uses.
MTEB joins a document's title and text as the harness does (`title + " " + text`).

mteb is optional (`pip install "harness[mteb]"`) and imported only here, inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data.dataset import Dataset
from harness.data.sources.mteb_tasks import BEIR_TASKS, eval_split
from harness.errors import SpecError
from harness.models.precision import Precision

SPLIT = "test"


def _mteb() -> Any:
    try:
        import mteb
    except ImportError:
        raise SpecError("MTEB interop needs mteb, which is not installed", hint='pip install "harness[mteb]"') from None
    return mteb


def local_task(dataset: Dataset, task: str) -> Any:
    """MTEB's retrieval task `task` (e.g. `SciFact`) over `dataset`'s documents, queries and
    judgments, as its `test` split; nothing is downloaded."""
    mteb = _mteb()
    try:
        base = type(mteb.get_task(task))
    except KeyError:
        raise SpecError(
            f"'{task}' is not an MTEB task", hint="give an MTEB retrieval task name, e.g. SciFact"
        ) from None

    def load_data(self: Any, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        self.corpus = {SPLIT: {d.doc_id: {"title": d.title, "text": d.text} for d in dataset.docs.values()}}
        self.queries = {SPLIT: {q.query_id: q.text for q in dataset.queries.values()}}
        self.relevant_docs = {SPLIT: {q: dict(judged) for q, judged in dataset.qrels.items()}}
        self.convert_v1_dataset_format_to_v2(num_proc)
        self.data_loaded = True

    local = type(f"Local{base.__name__}", (base,), {"load_data": load_data})
    return local()


def harness_encoder(
    model: str, *, precision: Precision | None = None, base_dir: Path = Path("."), **options: Any
) -> Any:
    """The harness's bi-encoder `model` (an alias, folder or id) behind MTEB's encoder interface."""
    import numpy as np

    from harness.models.encoders import load_bi_encoder
    from harness.models.encoding import EncodeOptions
    from harness.models.locate import resolve_model
    from harness.models.precision import at_precision

    mteb = _mteb()
    resolved = at_precision(resolve_model(model, kind="bi-encoder", base_dir=base_dir), precision)
    encoder = load_bi_encoder(resolved, EncodeOptions(precision=resolved.spec.precision, **options))
    from mteb.models.abs_encoder import AbsEncoder

    class HarnessEncoder(AbsEncoder):
        """MTEB's encoder interface over a harness BiEncoder."""

        def __init__(self) -> None:
            self.model = None  # no library model: MTEB scores with cosine similarity
            self.harness = encoder

        def encode(self, inputs: Any, *, prompt_type: Any = None, **kwargs: Any) -> Any:
            texts = [text for batch in inputs for text in batch["text"]]
            if prompt_type == mteb.types.PromptType.query:
                return np.asarray(encoder.encode_queries(texts), dtype=np.float32)
            return np.asarray(encoder.encode_docs(texts), dtype=np.float32)

    return HarnessEncoder()


def mteb_scores(
    dataset: Dataset, model: str, *, task: str, precision: Precision | None = None, **options: Any
) -> dict[str, Any]:
    """MTEB's scores (`ndcg_at_10`, `map_at_100`, `recall_at_1000`, `main_score`, ...) for the
    harness encoder `model` on `dataset`, evaluated by MTEB as its task `task`."""
    mteb = _mteb()
    result = mteb.evaluate(
        harness_encoder(model, precision=precision, **options),
        local_task(dataset, task),
        cache=None,
        show_progress_bar=False,
    )
    scores: dict[str, Any] = result.task_results[0].scores[SPLIT][0]
    return scores


_FAMILIES = {"nDCG": "ndcg_at", "R": "recall_at", "P": "precision_at", "AP": "map_at", "RR": "mrr_at"}


def mteb_score_name(measure: str) -> str | None:
    """The MTEB score of an ir_measures name (`nDCG@10` -> `ndcg_at_10`), None when MTEB has none
    (no cut-off, or a parameter such as `rel=2`)."""
    family, _, cutoff = measure.partition("@")
    return f"{_FAMILIES[family]}_{cutoff}" if family in _FAMILIES and cutoff.isdigit() else None


def mteb_task_name(summary: dict[str, Any]) -> tuple[str | None, str]:
    """(the MTEB task a dataset of the results is, or None; why not)."""
    folder, _, split = str(summary.get("location", "")).partition("#")
    task = BEIR_TASKS.get(Path(folder).name) if summary.get("source") in ("beir", "mteb") else None
    if task is None:
        return None, "not a BEIR collection MTEB has a task for"
    if summary.get("subset") != "all":
        return None, f"a query subset ({summary.get('subset')}), not the task's queries"
    if split != eval_split(task):
        return None, f"split '{split}', not the one MTEB evaluates"
    return task, ""


def write_mteb_results(results: Any, folder: Path) -> tuple[list[Path], list[str]]:
    """Each cell of `results` (a ResultSet) on a dataset MTEB has a task for, as an MTEB result
    file `folder/<system>/harness/<Task>.json` (MTEB's TaskResult, written by MTEB); the files
    written, and a line for each cell left out and why."""
    _mteb()
    import mteb
    from mteb.results import TaskResult

    from harness.names import slug

    written, skipped = [], []
    for cell in results.cells:
        name, why = mteb_task_name(results.datasets.get(cell.dataset, {}))
        task = mteb.get_task(name) if name is not None else None
        scores = {n: v for m, v in cell.aggregate.items() if (n := mteb_score_name(m)) is not None}
        if task is not None and (main := task.metadata.main_score) not in scores:
            task, why = None, f"no {main} among its measures"
        path = folder / slug(cell.system) / "harness" / f"{name}.json"
        if task is not None and path in written:  # two datasets of the spec are the same MTEB task
            task, why = None, f"{name} for {cell.system} is written already"
        if task is None:
            skipped.append(f"{cell.dataset} / {cell.system}: {why}")
            continue
        main = task.metadata.main_score
        seconds = cell.timing.batch.seconds if cell.timing is not None else 0.0
        split = {task.metadata.eval_splits[0]: {"default": {**scores, "main_score": scores[main]}}}
        path.parent.mkdir(parents=True, exist_ok=True)
        TaskResult.from_task_results(task, split, evaluation_time=seconds).to_disk(path)
        written.append(path)
    return written, skipped
