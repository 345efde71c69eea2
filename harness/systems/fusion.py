"""Fusion of other systems of the same spec: RRF, CombSUM, CombMNZ, weighted convex sum.

    rrf: {type: fuse, method: rrf, k: 60, inputs: [bm25, minilm]}
    mix: {type: fuse, method: weighted, norm: zscore, weights: [0.3, 0.7], inputs: [bm25, minilm]}

The inputs are names of systems (or of one sweep variant, e.g. ``minilm-hnsw@efSearch=64``);
the runner computes them first and hands their runs over in ``StageContext.runs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from harness.errors import SystemConfigError
from harness.rank_fusion import fuse
from harness.records import Query, Run
from harness.systems import STAGES, RetrieverParams, Stage
from harness.systems._inputs import read_run


class FuseParams(RetrieverParams):
    method: Literal["rrf", "combsum", "combmnz", "weighted"] = "rrf"
    inputs: list[str] = Field(min_length=2, description="names of the systems to fuse")
    k: float = Field(default=60, ge=0, description="RRF constant: score = sum 1 / (k + rank)")
    norm: Literal["minmax", "zscore", "none"] = Field(
        default="minmax", description="per-query score normalisation of the score-based methods"
    )
    weights: list[float] | None = Field(
        default=None, description="one weight per input; required by 'weighted' (convex: >= 0, sum 1)"
    )

    @model_validator(mode="after")
    def _check(self) -> FuseParams:
        if len(set(self.inputs)) != len(self.inputs):
            raise ValueError(f"inputs name a system twice: {self.inputs}")
        if self.weights is not None and len(self.weights) != len(self.inputs):
            raise ValueError(f"give one weight per input ({len(self.inputs)}), got {len(self.weights)}")
        if self.method == "weighted":
            if self.weights is None:
                raise ValueError("method 'weighted' needs weights, e.g. [0.5, 0.5]")
            if any(w < 0 for w in self.weights) or abs(sum(self.weights) - 1.0) > 1e-9:
                raise ValueError(f"'weighted' is a convex combination: weights >= 0 summing to 1, got {self.weights}")
        return self

    def reads(self) -> list[str]:
        return list(self.inputs)


@STAGES.register("fuse")
class Fuse(Stage):
    Params = FuseParams
    params: FuseParams

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        if previous is not None:
            raise SystemConfigError(
                "a 'fuse' stage combines whole systems and must come first in its pipeline",
                hint="make the stage before it a system of its own and list it in 'inputs'",
            )
        runs = [read_run(self.ctx, name, "fuse") for name in self.params.inputs]
        return fuse(
            self.params.method,
            runs,
            k=self.params.k,
            norm=self.params.norm,
            weights=self.params.weights,
            queries=[q.query_id for q in queries],
            depth=self.params.depth,
        )
