"""Replay an existing TREC run file as a system (e.g. a published reference run)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from pydantic import Field

from harness.data.trec import read_run
from harness.fsutil import sha256_file
from harness.records import Query, Run
from harness.systems import STAGES, RetrieverParams, Stage, StageContext, StageParams


class RunFileParams(RetrieverParams):
    path: str = Field(description="run file; '{dataset}' is replaced by the dataset name")


@STAGES.register("run")
class RunFile(Stage):
    Params = RunFileParams
    params: RunFileParams

    @staticmethod
    def resolved_path(params: RunFileParams, base_dir: Path, dataset: str) -> Path:
        p = Path(params.path.replace("{dataset}", dataset))
        return p if p.is_absolute() else base_dir / p

    @classmethod
    def missing_inputs(cls, params: StageParams, base_dir: Path, dataset: str) -> list[str]:
        path = cls.resolved_path(cast(RunFileParams, params), base_dir, dataset)
        return [] if path.is_file() else [str(path)]

    @classmethod
    def input_fingerprint(cls, params: StageParams, ctx: StageContext) -> str:
        path = cls.resolved_path(cast(RunFileParams, params), ctx.base_dir, ctx.dataset.name)
        return sha256_file(path) if path.is_file() else "missing"

    def prepare(self) -> None:
        self.run = read_run(self.resolved_path(self.params, self.ctx.base_dir, self.ctx.dataset.name))

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        return Run({q.query_id: self.run.get(q.query_id, ())[: self.params.depth] for q in queries})
