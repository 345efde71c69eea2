"""Results as pandas DataFrames: the public Python API for notebooks.

    import harness
    r = harness.load_results("reports/scifact-bm25")
    r.aggregate()      # one row per dataset x system x measure
    r.per_query()      # one row per dataset x system x measure x query
    r.latency()        # one row per timed query x series (whole pipeline, a stage, a step; wall or CPU)
    r.costs()          # one row per dataset x system x stage x offline cost
    r.comparisons()    # one row per dataset x measure x system compared with the baseline

Every table is tidy (one observation per row) with typed columns: names are pandas `category`,
ids `string`, values `float64`. They read the same `ResultSet` the report and the gate read, so
a number here is the number they show. `harness export DIR --format parquet|csv` writes them.
pandas is imported when a table is asked for, not with this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.results import ResultSet
from harness.timing import Timing

if TYPE_CHECKING:
    import pandas as pd

TABLES = ("aggregate", "per_query", "latency", "costs", "comparisons", "online")
"""The tables `Results` gives, by method name (what `harness export` writes)."""


def load_results(path: str | Path) -> Results:
    """The results folder (or its results.json) as DataFrames; refuses a malformed file with
    the key path that is wrong (DataError), as every other reader does."""
    return Results(ResultSet.load(Path(path)))


def _frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    """`rows` as a DataFrame of exactly `columns` (name -> dtype), in that order."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(columns))
    return frame.astype(columns)


def latency_series(timing: Timing) -> Iterator[tuple[int, str, str, str, tuple[float, ...]]]:
    """Each per-query series of a cell's timing: (stage position or -1 for the whole pipeline,
    stage type, step, clock, samples aligned with `timing.query_ids`)."""
    yield -1, "", "", "wall", timing.samples_ms
    yield -1, "", "", "cpu", timing.cpu_samples_ms
    yield -1, "", "encode", "wall", timing.encode_samples_ms
    yield -1, "", "encode", "cpu", timing.encode_cpu_samples_ms
    for i, stage in enumerate(timing.stages):
        yield i, stage.type, "", "wall", stage.samples_ms
        for name, part in stage.parts.items():
            yield i, stage.type, name, "wall", part.samples_ms


class Results:
    """A result set's tables (see the module docstring); `result_set` is the typed record."""

    def __init__(self, result_set: ResultSet) -> None:
        self.result_set = result_set

    def _base(self, system: str) -> str:
        info = self.result_set.systems.get(system)
        return info.base if info is not None else system

    def aggregate(self) -> pd.DataFrame:
        """dataset, system, base (the spec's name it was swept from), measure, value, and the
        judged and answered query counts of the cell."""
        rows = [
            {
                "dataset": c.dataset,
                "system": c.system,
                "base": self._base(c.system),
                "measure": m,
                "value": v,
                "judged": c.judged,
                "answered": c.answered,
            }
            for c in self.result_set.cells
            for m, v in c.aggregate.items()
        ]
        cols = {"dataset": "category", "system": "category", "base": "category", "measure": "category"}
        return _frame(rows, {**cols, "value": "float64", "judged": "int64", "answered": "int64"})

    def per_query(self) -> pd.DataFrame:
        """dataset, system, measure, query_id, value: every judged query's value."""
        rows = [
            {"dataset": c.dataset, "system": c.system, "measure": m, "query_id": q, "value": v}
            for c in self.result_set.cells
            for m, values in c.per_query.items()
            for q, v in values.items()
        ]
        cols = {"dataset": "category", "system": "category", "measure": "category", "query_id": "string"}
        return _frame(rows, {**cols, "value": "float64"})

    def latency(self) -> pd.DataFrame:
        """dataset, system, query_id, stage (position in the pipeline; -1: the whole pipeline),
        stage_type, step (`encode`, `search`, ...; empty: the whole stage or pipeline), clock
        (wall or cpu), ms. Only cells timed per query have rows."""
        rows = []
        for c in self.result_set.cells:
            if c.timing is None:
                continue
            ids = c.timing.query_ids
            for stage, kind, step, clock, samples in latency_series(c.timing):
                if len(samples) != len(ids):
                    continue  # a series this cell did not record (e.g. no stage encodes)
                base = {"dataset": c.dataset, "system": c.system, "stage": stage, "stage_type": kind}
                base |= {"step": step, "clock": clock}
                rows += [{**base, "query_id": q, "ms": ms} for q, ms in zip(ids, samples, strict=True)]
        cols = {"dataset": "category", "system": "category", "query_id": "string", "stage": "int64"}
        cols |= {"stage_type": "category", "step": "category", "clock": "category"}
        return _frame(rows, {**cols, "ms": "float64"})

    def costs(self) -> pd.DataFrame:
        """dataset, system, stage, stage_type, cost, value (numbers and booleans as float64) or
        text (other values, e.g. the model): a stage's offline costs, its prepare and batch
        seconds included."""
        rows = []
        for c in self.result_set.cells:
            if c.timing is None:
                continue
            for i, s in enumerate(c.timing.stages):
                base = {"dataset": c.dataset, "system": c.system, "stage": i, "stage_type": s.type}
                items = {"prepare_s": s.prepare_s, "search_s": s.search_s, "cached": s.cached, **s.costs}
                for name, v in items.items():
                    number = isinstance(v, int | float) and v is not None
                    text = None if number or v is None else str(v)
                    rows.append({**base, "cost": name, "value": float(v) if number else None, "text": text})
        cols = {"dataset": "category", "system": "category", "stage": "int64", "stage_type": "category"}
        return _frame(rows, {**cols, "cost": "category", "value": "float64", "text": "string"})

    def comparisons(self) -> pd.DataFrame:
        """One row per dataset x measure x system compared with the baseline: what `harness
        compare` shows (harness.compare), nested statistics flattened with `_` (`t_p`,
        `t_p_adjusted`, `wilcoxon_statistic`, `effect_size_cohens_d`) and the delta's
        confidence interval as `delta_ci_low`, `delta_ci_high`."""
        import pandas as pd

        rows = [dict(_flat(r)) for r in self.result_set.comparisons.get("results", [])]
        # No baseline, no rows: still the key columns, so that a CSV has its header.
        frame = (
            pd.DataFrame(rows) if rows else pd.DataFrame(columns=["dataset", "measure", "system", "baseline", "delta"])
        )
        for name in ("dataset", "measure", "system", "baseline", "direction"):
            if name in frame:
                frame[name] = frame[name].astype("category")
        return frame

    def online(self) -> pd.DataFrame:
        """One row per dataset x pair (A, B) x test x click model x metric of the simulated
        online tests (harness.online): `test` is the interleaving method or `ab`; `metric` is
        `preference` (interleaving) or `ctr` / `clicks` (A/B, the difference B - A); with the
        interval, the impressions needed and the pair's offline difference."""
        rows: list[dict[str, Any]] = []
        for dataset, data in self.result_set.online.items():
            for p in data.pairs:
                base = {"dataset": dataset, "a": p.a, "b": p.b}
                offline = {
                    "offline_measure": p.offline.measure,
                    "offline_difference": p.offline.difference,
                    "offline_p_holm": p.offline.pvalue_corrected,
                    "offline_significant": p.offline.significant,
                }
                for o in p.interleaving:
                    rows.append({**base, "test": o.method, "click_model": o.click_model, "metric": "preference",
                                 "value": o.preference, "low": o.interval.low, "high": o.interval.high,
                                 "impressions_needed": o.impressions_needed, **offline})  # fmt: skip
                for ab in p.ab:
                    for d in ab.differences:
                        rows.append({**base, "test": "ab", "click_model": ab.click_model, "metric": d.metric,
                                     "value": d.difference, "low": d.interval.low, "high": d.interval.high,
                                     "impressions_needed": d.impressions_needed, **offline})  # fmt: skip
        cats = dict.fromkeys(("dataset", "a", "b", "test", "click_model", "metric"), "category")
        numbers = {"value": "float64", "low": "float64", "high": "float64", "impressions_needed": "Int64"}
        offline_cols = {"offline_measure": "category", "offline_difference": "float64", "offline_p_holm": "float64"}
        return _frame(rows, {**cats, **numbers, **offline_cols, "offline_significant": "boolean"})


def _flat(record: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """A comparison row's fields as flat (name, value) pairs: `tests.t.p` -> `t_p`."""
    for key, value in record.items():
        name = f"{prefix}{key}".removeprefix("tests_")
        if isinstance(value, dict):
            yield from _flat(value, f"{name}_")
        elif isinstance(value, list | tuple) and len(value) == 2:
            yield f"{name}_low", value[0]
            yield f"{name}_high", value[1]
        else:
            yield name, value
