"""Retrieval stages. Each module registers one stage type; a system is a list of stages.

The runner never branches on type names: it looks the type up in `STAGES`, validates the
stage's parameters with the stage's own `Params` model, and calls `prepare` then `search`.
This package knows nothing of specs, plans or runners (they import it, never the reverse).
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from harness.data.dataset import Dataset
from harness.errors import SystemConfigError
from harness.plugins import Registry
from harness.records import Query, Run


class StageParams(BaseModel):
    """Base of every stage's parameters: frozen, unknown keys rejected, strict types.

    Strict, because YAML 1.1 hands over values that lax pydantic would silently convert: `yes`,
    `on` and `true` are booleans (lax takes True as 1 or 1.0), quoted numbers and `1e3` are text
    (lax takes "1e3" as 1000.0), `10.0` is a float (lax takes it as 10). So an int parameter takes
    a whole number only, a float parameter a number (an int too: `k1: 1`), a bool parameter a
    boolean, a string parameter text; numbers must be finite (`.inf` and `.nan` are refused).
    `harness.validation` words the errors with the fix."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    key_hints: ClassVar[Mapping[str, str]] = {}
    """Keys that are not parameters of this stage but mean something elsewhere, with the hint
    to give instead of "unknown key" (e.g. a rerank stage's `depth` -> use `top`)."""

    def thread_count(self) -> int | None:
        """Threads the stage asks for (its `threads` parameter); None: all available cores. The
        pipeline sets every runtime of a cell to the largest count its stages ask for
        (harness.threads.use_threads)."""
        return None

    def reads(self) -> list[str]:
        """Names of other systems of the spec whose runs this stage reads from ctx.runs (fusion
        inputs, `use`); the runner runs those first and hands their runs over."""
        return []


class RetrieverParams(StageParams):
    """Parameters shared by first-stage retrievers."""

    depth: int = Field(default=1000, gt=0, description="documents returned per query")
    ignore_identical_ids: bool = Field(
        default=False,
        description="drop a document whose id equals the query id (ArguAna-style collections)",
    )


@dataclass(frozen=True)
class StageContext:
    """What a stage may use besides its parameters."""

    base_dir: Path
    data_root: Path
    dataset: Dataset
    progress: bool = True
    runs: Mapping[str, Run] = field(default_factory=dict)
    """Finished runs of other systems of the same spec on this dataset, by system name
    (variant name, and base name where the base has one variant). Stages that combine
    systems (fusion, `use`) declare what they need through `StageParams.reads`."""


class Stage(ABC):
    """One step of a pipeline. A first stage gets `previous=None`; later ones re-rank it.

    `search` must accept any subset of the queries, one at a time included: the pipeline
    times each query alone (later stages then get that query's run from the stage before)
    besides the batch pass that produces the run. Stages draw progress bars only while
    `self.progress` is true; the pipeline turns it off (`set_progress`) for single queries.

    Offline costs: `prepare` may record what it built in `self.costs` (JSON values only),
    which the pipeline stores with the cell's timing. Known keys:

    - `build_s`: seconds the artefact (index, embeddings) took to compute. When it is loaded
      from the cache, give the seconds recorded when it was computed (keep them in the cache
      entry's metadata) and set `cached`;
    - `cached`: True when the artefact came from the cache;
    - `docs`: documents indexed or encoded (for docs/s throughput);
    - `index_bytes`: size of the artefact on disk; `memory_bytes`: its size in memory;
    - anything else (`dim`, `model`, ...) is shown as is.

    The pipeline reads `self.costs` after all searches, so `search` may add to it too.

    Rankings as arrays: a stage whose library answers in arrays (bm25s) may return
    `Run.deferred`, so that its time is the search and not the building of a thousand records
    per query; they are built when the run is first read (by the evaluation for a one-stage
    system, by the next stage, inside that stage's clock, in a pipeline).

    Parts of a call: a `search` times the steps of its work apart with `with self.part(name):`
    (seconds accumulate per name; the pipeline clears them before each call and keeps them per
    query). `encode` is the step that turns the query into the index's representation (a
    vector, sparse weights, terms): the report's and the gate's search-only scope leave it out,
    so that an approximate index's search shows its own cost. Other names (`search`,
    `tokenise`, `model`, ...) are shown as they are; time outside every part is the harness's.

    Cached query-time work: a `search` that serves results from a cache (e.g. stored pair scores)
    instead of computing them sets `self.replayed_s` to the seconds that work took when it was
    computed (the pipeline resets it to 0 before each call). The pipeline adds it to the
    measured time of that call and reports the stage's latency as partly replayed.
    """

    Params: ClassVar[type[StageParams]]
    first_stage: ClassVar[bool] = True
    """True: the stage starts a pipeline and its `search` ignores `previous`, so a spec may put
    it first only; False: it re-ranks `previous`, so a spec may not put it first."""
    uses_cache: ClassVar[bool] = False
    """True for stages that write artefacts to the artefact cache (embeddings, indexes, pair
    scores, model file hashes): `harness run` checks the cache is writable before any work."""

    scores_pairs: ClassVar[bool] = False
    """True for a stage whose `search` scores (query, document) pairs into the artefact cache
    when `caches_pairs(params)` (the cross-encoder): under `executor: ray` workers score a
    variant's pairs first (harness.runner.ray_pairs), and its cell then reads them."""
    costs: dict[str, Any]
    """Offline costs (see above); read by the pipeline after all passes."""
    replayed_s: float
    """Seconds of cached work the last `search` call served (see above)."""
    progress: bool
    """Whether this stage may draw progress bars now."""
    parts: dict[str, list[float]]
    """Seconds of the last `search` call by step: name -> [wall, CPU of the process] (see above)."""

    def __init__(self, params: StageParams, ctx: StageContext) -> None:
        self.params = params
        self.ctx = ctx
        self.costs = {}
        self.replayed_s = 0.0
        self.parts = {}
        self.progress = ctx.progress

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Time the block as step `name` of the current `search` call (wall and CPU seconds)."""
        c0, t0 = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            got = self.parts.setdefault(name, [0.0, 0.0])
            got[0] += time.perf_counter() - t0
            got[1] += time.process_time() - c0

    def add_part(self, name: str, seconds: float) -> None:
        """Seconds of step `name` replayed from a cache (counted on both clocks, as replayed_s)."""
        got = self.parts.setdefault(name, [0.0, 0.0])
        got[0] += seconds
        got[1] += seconds

    def set_progress(self, on: bool) -> None:
        """Allow or forbid progress bars (a bar per single-query call floods the terminal)."""
        self.progress = on

    @classmethod
    def missing_inputs(cls, params: StageParams, base_dir: Path, dataset: str) -> list[str]:
        """Files the stage would read on dataset `dataset` that do not exist. The plan refuses
        them when the spec loads, at the stage's line, instead of after other cells have run."""
        return []

    @classmethod
    def caches_pairs(cls, params: StageParams) -> bool:
        """Whether this stage, with these parameters, keeps the pair scores it computes."""
        return False

    @classmethod
    def input_fingerprint(cls, params: StageParams, ctx: StageContext) -> str:
        """Content hash of inputs the parameters only name (files, models); part of a cell's
        key. A classmethod: the runner keys every cell without building its stages."""
        return ""

    def prepare(self) -> None:  # noqa: B027 - optional hook, most stages index here
        """Offline work for the dataset (indexing, encoding). Timed apart from search."""

    @abstractmethod
    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        """Query-time work: rankings for `queries`."""


STAGES: Registry[type[Stage]] = Registry("system type", "harness.systems", SystemConfigError)
