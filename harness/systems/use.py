"""Start a pipeline from another system's finished run: ``{type: use, system: bm25, depth: 100}``.

Lets a cascade reuse a first stage that the spec already runs (e.g. re-rank the `bm25`
system's top 100) instead of computing it again.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from harness.records import Query, Run
from harness.systems import STAGES, RetrieverParams, Stage
from harness.systems._inputs import read_run


class UseParams(RetrieverParams):
    system: str = Field(min_length=1, description="name of the system (or sweep variant) whose run to start from")

    def reads(self) -> list[str]:
        return [self.system]


@STAGES.register("use")
class Use(Stage):
    Params = UseParams
    params: UseParams

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        run = read_run(self.ctx, self.params.system, "use")
        depth = self.params.depth
        return Run({q.query_id: run.get(q.query_id, ())[:depth] for q in queries})
