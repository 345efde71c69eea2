"""ir_datasets ids (e.g. `beir/scifact/test`) for users who are online; tried last."""

from __future__ import annotations

from pathlib import Path

from harness.data.ref import DatasetRef
from harness.data.sources import SOURCES, Loaded
from harness.errors import DataError
from harness.records import Doc, Query


def _text(obj: object) -> str:
    default = getattr(obj, "default_text", None)
    if callable(default):
        return str(default())
    return str(getattr(obj, "text", ""))


def _local_hint(ref: DatasetRef, data_root: Path) -> str:
    from harness.data.catalog import local_ids
    from harness.names import did_you_mean

    wanted = (ref.id or "") + (f"/{ref.split}" if ref.split else "")
    return did_you_mean(wanted, local_ids(data_root))


class IrDatasets:
    priority = 100

    def matches(self, ref: DatasetRef, data_root: Path) -> bool:
        return bool(ref.id) and not (ref.topics or ref.qrels or ref.path)

    def load(self, ref: DatasetRef, data_root: Path) -> Loaded:
        assert ref.id  # matches() was checked by the resolver
        try:
            import ir_datasets
        except ImportError:
            raise DataError(
                f"dataset '{ref.id}' is not under the data root {data_root} and ir_datasets is not installed",
                hint=_local_hint(ref, data_root)
                + "set --data-root / HARNESS_DATA_ROOT to the folder holding it, or pip install 'harness[irds]'",
            ) from None
        irds_id = ref.id + (f"/{ref.split}" if ref.split else "")
        try:
            ds = ir_datasets.load(irds_id)
        except KeyError:
            raise DataError(
                f"dataset '{irds_id}' is neither under the data root {data_root} nor an ir_datasets id",
                hint=_local_hint(ref, data_root) + "check the id, or set --data-root / HARNESS_DATA_ROOT",
            ) from None
        try:
            docs = {}
            for d in ds.docs_iter():
                docs[d.doc_id] = Doc(
                    d.doc_id, str(getattr(d, "title", "") or ""), str(getattr(d, "text", "") or _text(d))
                )
            queries = {q.query_id: Query(q.query_id, _text(q)) for q in ds.queries_iter()}
            qrels: dict[str, dict[str, int]] = {}
            for qr in ds.qrels_iter():
                qrels.setdefault(qr.query_id, {})[qr.doc_id] = int(qr.relevance)
        except Exception as exc:  # network and format failures inside ir_datasets
            raise DataError(
                f"ir_datasets could not provide '{irds_id}': {exc}",
                hint="ir_datasets downloads on first use; offline, point --data-root at a local copy",
            ) from None
        return Loaded(docs, queries, qrels, f"ir_datasets:{irds_id}")


SOURCES.register("ir_datasets")(IrDatasets())
