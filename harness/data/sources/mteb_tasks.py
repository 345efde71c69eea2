"""MTEB retrieval task names as dataset ids (`mteb:SciFact`): the local BEIR folder of the same
collection when the data root has it, else MTEB's own loader for users who are online."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data.beir_files import is_beir_folder, load_beir
from harness.data.ref import DatasetRef
from harness.data.sources import SOURCES, Loaded
from harness.errors import DataError, first_line
from harness.records import Doc, Query

PREFIX = "mteb:"
BEIR_TASKS = {
    "arguana": "ArguAna",
    "climate-fever": "ClimateFEVER",
    "dbpedia-entity": "DBPedia",
    "fever": "FEVER",
    "fiqa": "FiQA2018",
    "hotpotqa": "HotpotQA",
    "msmarco": "MSMARCO",
    "nfcorpus": "NFCorpus",
    "nq": "NQ",
    "quora": "QuoraRetrieval",
    "scidocs": "SCIDOCS",
    "scifact": "SciFact",
    "trec-covid": "TRECCOVID",
    "webis-touche2020": "Touche2020",
}
"""BEIR folder name -> the MTEB task over the same collection (and so the same judgments)."""


def eval_split(task: str) -> str:
    """The split MTEB evaluates the task on (its BEIR split)."""
    return "dev" if task == "MSMARCO" else "test"


class MtebTasks:
    priority = 50

    def matches(self, ref: DatasetRef, data_root: Path) -> bool:
        return bool(ref.id) and str(ref.id).startswith(PREFIX) and not (ref.topics or ref.qrels or ref.path)

    def load(self, ref: DatasetRef, data_root: Path) -> Loaded:
        task = str(ref.id).removeprefix(PREFIX)
        split = ref.split or eval_split(task)
        folders = [f for f, t in BEIR_TASKS.items() if t == task]
        local = next((data_root / "beir" / f for f in folders if is_beir_folder(data_root / "beir" / f)), None)
        if local is not None:
            docs, queries, qrels = load_beir(local, split)
            return Loaded(docs, queries, qrels, f"{local}#{split}")
        return _from_mteb(task, split, data_root, folders)


def _from_mteb(task: str, split: str, data_root: Path, folders: list[str]) -> Loaded:
    where = f"{data_root / 'beir' / folders[0]}" if folders else f"a BEIR folder under {data_root}"
    try:
        import mteb
    except ImportError:
        raise DataError(
            f"MTEB task '{task}' is not under the data root and mteb is not installed",
            hint=f'put its BEIR folder at {where}, or pip install "harness[mteb]" (online)',
        ) from None
    try:
        loaded = mteb.get_task(task, eval_splits=[split])
    except KeyError:
        same = [t for t in BEIR_TASKS.values() if t.lower() == task.lower()]
        hint = f"did you mean mteb:{same[0]}? " if same else ""
        raise DataError(
            f"'{task}' is not an MTEB task", hint=hint + "use an MTEB retrieval task name, e.g. mteb:SciFact"
        ) from None
    try:
        loaded.load_data()
        every: Any = loaded.dataset
        data = every["default"][split]
    except Exception as exc:  # offline: huggingface_hub / datasets raise many kinds
        raise DataError(
            f"MTEB could not download task '{task}' ({first_line(exc)})",
            hint=f"offline, put its BEIR folder at {where}; online, check the task name",
        ) from None
    docs = {
        str(r["id"]): Doc(str(r["id"]), str(r.get("title") or ""), str(r.get("text") or "")) for r in data["corpus"]
    }
    queries = {str(r["id"]): Query(str(r["id"]), str(r["text"])) for r in data["queries"]}
    qrels = {str(q): {str(d): int(v) for d, v in judged.items()} for q, judged in data["relevant_docs"].items()}
    return Loaded(docs, queries, qrels, f"mteb:{task}#{split}")


SOURCES.register("mteb")(MtebTasks())
