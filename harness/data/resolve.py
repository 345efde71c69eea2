"""Turn a DatasetRef into a Dataset: pick the source, restrict to judged queries, subset."""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path

from harness.data.dataset import Dataset
from harness.data.ref import DatasetRef
from harness.data.sources import SOURCES, Loaded
from harness.errors import DataError

DATA_ROOT_ENV = "HARNESS_DATA_ROOT"
DEFAULT_DATA_ROOT = "../shared/data"


def data_root(explicit: str | Path | None = None) -> Path:
    """CLI option, else $HARNESS_DATA_ROOT, else ../shared/data (relative to the cwd)."""
    chosen = explicit or os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT
    return Path(chosen).expanduser()


def _judged_queries(loaded: Loaded, ref: DatasetRef) -> list[str]:
    missing = [q for q in loaded.qrels if q not in loaded.queries]
    if missing:
        raise DataError(
            f"{len(missing)} judged queries have no text (e.g. '{missing[0]}')",
            path=loaded.location,
            hint="the queries file must hold every query id that the qrels judge",
        )
    return [q for q in loaded.queries if q in loaded.qrels]


class SubsetWarning(UserWarning):
    """A query subset asks for more queries than the dataset judges."""


def select(qids: list[str], ref: DatasetRef) -> list[str]:
    """The judged queries `ref.queries` keeps. A rule asking for more than there are keeps
    them all, and says so: the results then hold fewer queries than the spec reads."""
    rule = ref.queries
    if rule is None:
        return qids
    wanted = rule.first if rule.first is not None else rule.sample
    if wanted is not None and wanted > len(qids):
        how = "first" if rule.first is not None else "sample"
        warnings.warn(
            f"dataset {ref.display_name()}: queries: {{{how}: {wanted}}} asks for more queries than the "
            f"{len(qids)} it judges; evaluating all {len(qids)}",
            SubsetWarning,
            stacklevel=2,
        )
    if rule.first is not None:
        return qids[: rule.first]
    if rule.sample is None or rule.sample >= len(qids):
        return qids
    keep = set(random.Random(rule.seed).sample(sorted(qids), rule.sample))
    return [q for q in qids if q in keep]


def load_dataset(ref: DatasetRef, root: Path) -> Dataset:
    sources = sorted(((name, SOURCES.get(name)) for name in SOURCES.names()), key=lambda s: s[1].priority)
    chosen = next(((n, s) for n, s in sources if s.matches(ref, root)), None)
    if chosen is None:  # pragma: no cover - ir_datasets matches every id
        raise DataError(f"no source can load dataset {ref.display_name()}")
    name, source = chosen
    loaded = source.load(ref, root)
    qids = select(_judged_queries(loaded, ref), ref)
    if not qids:
        raise DataError("dataset has no judged queries", path=loaded.location)
    queries = {q: loaded.queries[q] for q in qids}
    qrels = {q: loaded.qrels[q] for q in qids}
    return Dataset(
        name=ref.display_name(),
        source=name,
        location=loaded.location,
        docs=loaded.docs,
        queries=queries,
        qrels=qrels,
        subset=ref.queries.describe() if ref.queries else "all",
    )
