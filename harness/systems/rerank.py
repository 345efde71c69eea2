"""Cross-encoder re-ranking of the `top` candidates of the stage before it.

    bm25-ce:
      - {type: bm25, depth: 100}
      - {type: rerank, model: ms-marco-MiniLM-L-12-v2, top: [10, 20, 50, 100]}

The standard cascade: the `top` candidates are re-scored by the cross-encoder and ranked by
that score; the candidates below them keep their order after them, with scores shifted below
the lowest cross-encoder score. (`top`, not `depth`: a retriever's `depth` is how many
documents it returns, and the stage before decides that here.)

Pair scores are cached per (model content hash, max_length, batch_size, query text, document
text) in one SQLite file per model setting under the artefact cache (``pair-scores/``, see
`_pair_scores`: every row checksummed), so a `top` sweep {10, 20, 50, 100} scores each pair
once and an unchanged re-run scores nothing.

The model is loaded by `harness.models.encoders.load_cross_encoder` (onnxruntime and tokenizers
for the ONNX export, no torch). The default batch size is 1, on purpose: the shipped model is a
*dynamically* quantised int8 export, whose activation scales are computed over the whole input
tensor, so a pair's score depends on which pairs share its batch and on their padding (up to 0.4
logits measured on SciFact). One pair per call is exact, reproducible and, without padding, also
the fastest on CPU (3.6 s vs 11 s for 64 SciFact pairs at batch 32). A larger `batch_size` is
allowed (it is part of the cache key), e.g. for fp32 models, where batching does not change scores.

Scores are the model's raw logits whatever the backend or precision, so a PyTorch model at fp32
and its int8 export score on one scale.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from pydantic import Field, model_validator

from harness.errors import SystemConfigError
from harness.models.precision import PRECISION_HELP, Precision, check_alias_precision, precision_tag
from harness.records import Doc, Query, Run, ScoredDoc
from harness.systems import STAGES, Stage, StageContext, StageParams
from harness.systems._indexing import unknown_candidate
from harness.systems._pair_scores import PairScoreCache

if TYPE_CHECKING:
    from harness.models.locate import ResolvedModel

PAIR_KIND = "pair-scores"
SCORE_SCHEMA = 4  # 3: rows carry a checksum; 4: and the seconds spent tokenising
LOGIT_SCORES = "logits"
"""What a PyTorch cross-encoder's scores are, in its keys: sentence-transformers applied a sigmoid
until the harness asked for the raw logits, which the onnx models have always returned."""


class RerankParams(StageParams):
    model: str = Field(default="ms-marco-MiniLM-L-12-v2", description="alias, local folder or Hugging Face id")
    top: int = Field(default=100, gt=0, description="candidates re-scored per query; the rest keep their order")

    key_hints: ClassVar[Mapping[str, str]] = {
        "depth": "write top: N for the number of candidates re-scored; the stage before decides how many "
        "documents there are (its depth)"
    }
    max_length: int = Field(default=512, gt=8, le=8192, description="tokens per (query, document) pair")
    batch_size: int = Field(default=1, gt=0, le=4096, description="pairs per model call (see module docs)")
    threads: int | None = Field(default=None, gt=0, description="onnxruntime intra-op threads (default: all)")
    precision: Precision | None = Field(default=None, description=PRECISION_HELP)
    cache: bool = Field(default=True, description="reuse and store pair scores in the artefact cache")

    def thread_count(self) -> int | None:
        return self.threads

    @model_validator(mode="after")
    def _precision_available(self) -> RerankParams:
        check_alias_precision(self.model, self.precision)
        return self


def pair_key(query: str, doc: str) -> str:
    """Content key of one (query text, document text) pair."""
    blob = json.dumps([query, doc], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class ScoringStats:
    pairs_scored: int = 0
    """Pairs the model scored."""
    pairs_cached: int = 0
    """Pairs whose score came from the cache."""
    score_s: float = 0.0
    """Model seconds spent."""
    model_s: float = 0.0
    """Model seconds of every pair used, cached ones at the time recorded when computed."""
    tokens: int = 0
    """Tokens of the pairs the model scored."""


def cascade(candidates: Sequence[ScoredDoc], new_scores: Sequence[float]) -> list[ScoredDoc]:
    """Re-scored head first (by new score), then the tail in its previous order, below it."""
    head = [ScoredDoc(d.doc_id, s) for d, s in zip(candidates, new_scores, strict=False)]
    tail = candidates[len(head) :]
    floor = min(new_scores) if new_scores else 0.0
    # Strictly decreasing below the head, so the tail keeps exactly its previous order.
    head.extend(ScoredDoc(d.doc_id, floor - 1.0 - j) for j, d in enumerate(tail))
    return head


@STAGES.register("rerank")
class Rerank(Stage):
    Params = RerankParams
    params: RerankParams
    first_stage = False
    uses_cache: ClassVar[bool] = True
    """Writes to the artefact cache: a run proves the cache writable before any work."""
    scores_pairs: ClassVar[bool] = True

    @staticmethod
    def _resolve(params: RerankParams, ctx: StageContext) -> ResolvedModel:
        from harness.models import resolve_model
        from harness.models.precision import at_precision

        return at_precision(resolve_model(params.model, kind="cross-encoder", base_dir=ctx.base_dir), params.precision)

    @classmethod
    def input_fingerprint(cls, params: StageParams, ctx: StageContext) -> str:
        resolved = cls._resolve(cast(RerankParams, params), ctx)
        # The shipped model runs at int8 only: its fingerprint stays the plain hash, so stored
        # cells and pair scores of before precision existed remain valid.
        own = resolved.spec.precision == "int8" and resolved.backend == "onnx"
        if own:
            return resolved.files_hash
        # `logits`: PyTorch models scored through a sigmoid before LOGIT_SCORES; cells of then differ
        return f"{resolved.files_hash}:{precision_tag(resolved)}:{LOGIT_SCORES}"

    @classmethod
    def caches_pairs(cls, params: StageParams) -> bool:
        return cast(RerankParams, params).cache

    def prepare(self) -> None:
        t0 = time.perf_counter()
        resolved = self._resolve(self.params, self.ctx)  # of the kind asked for, or a ModelError naming the aliases
        self.model_hash = resolved.files_hash
        self.precision = resolved.spec.precision
        from harness.models.throughput import default_threads, gemm_peak_gflops

        # Measured here, not in `search`: the GEMM probe (and the torch import it needs) must
        # not land in a timed pass.
        self.peak_gflops = gemm_peak_gflops(self.precision)
        self.threads = self.params.threads or default_threads()
        self.total = ScoringStats()
        from harness.models.encoders import load_cross_encoder
        from harness.models.encoding import EncodeOptions

        self.encoder = load_cross_encoder(
            resolved,
            EncodeOptions(
                batch_size=self.params.batch_size,
                threads=self.params.threads,
                max_length=self.params.max_length,
                precision=resolved.spec.precision,
            ),
        )
        self.store: PairScoreCache | None = None
        if self.params.cache:
            from harness.cache import ArtefactStore, make_key

            setting: dict[str, object] = {
                "schema": SCORE_SCHEMA,
                "model": self.model_hash,
                "max_length": self.params.max_length,
                "batch_size": self.params.batch_size,
            }
            if resolved.backend != "onnx":  # a PyTorch model's scores depend on the precision it ran at
                setting["precision"] = precision_tag(resolved)
                setting["scores"] = LOGIT_SCORES
            key = make_key(**setting)
            self.store = PairScoreCache(ArtefactStore().db_path(PAIR_KIND, key))
            self.store.set_meta({**setting, "model_ref": self.params.model, **resolved.describe()})
        self.costs.update(
            {
                "model": self.params.model,
                "precision": resolved.spec.precision,
                "load_s": round(time.perf_counter() - t0, 4),
            }
        )

    def _doc(self, doc_id: str) -> Doc:
        doc = self.ctx.dataset.docs.get(doc_id)
        if doc is None:
            raise unknown_candidate(doc_id, self.ctx.dataset)
        return doc

    def _scores(self, query: Query, docs: Sequence[ScoredDoc]) -> list[float]:
        pairs = [(query.text, self._doc(d.doc_id).default_text()) for d in docs]
        keys = [pair_key(q, t) for q, t in pairs]
        known = self.store.get(keys) if self.store is not None else {}
        todo = [i for i, k in enumerate(keys) if k not in known]
        if todo:
            before, tokenised = self.encoder.tokens, self.encoder.tokenise_s
            t0 = time.perf_counter()
            fresh = self.encoder.score([pairs[i] for i in todo])
            seconds = time.perf_counter() - t0
            tokenise_s = min(self.encoder.tokenise_s - tokenised, seconds)
            self.add_part("tokenise", tokenise_s)
            self.add_part("model", seconds - tokenise_s)
            self.total.tokens += self.encoder.tokens - before
            self.stats.score_s += seconds
            self.total.score_s += seconds
            self.total.pairs_scored += len(todo)
            n = len(todo)
            new = {keys[i]: (s, seconds / n, tokenise_s / n) for i, s in zip(todo, fresh, strict=True)}
            if self.store is not None:
                self.store.put(new)
            known = {**known, **new}
        self.stats.pairs_scored += len(todo)
        self.stats.pairs_cached += len(keys) - len(todo)
        self.stats.model_s += sum(known[k][1] for k in keys)
        # Cached pairs are not free: report the time they took, step by step, when they were scored.
        fresh_keys = {keys[i] for i in todo}
        cached = [known[k] for k in keys if k not in fresh_keys]
        if cached:
            replayed, replayed_tokenise = sum(c[1] for c in cached), sum(c[2] for c in cached)
            self.replayed_s += replayed
            self.add_part("tokenise", replayed_tokenise)
            self.add_part("model", replayed - replayed_tokenise)
        return [known[k][0] for k in keys]

    def _throughput(self) -> dict[str, object]:
        from harness.models.throughput import throughput_costs

        return throughput_costs(
            tokens=self.total.tokens,
            seconds=self.total.score_s,
            linear_params=self.encoder.linear_params,
            precision=self.precision,
            batch_size=self.params.batch_size,
            threads=self.threads,
            peak_gflops=self.peak_gflops,
        )

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        if previous is None:
            raise SystemConfigError(
                "'rerank' needs candidates from a stage before it",
                hint="start the pipeline with a retriever such as bm25, run or use",
            )
        from tqdm import tqdm

        self.stats = ScoringStats()
        out: dict[str, list[ScoredDoc]] = {}
        bar = tqdm(queries, desc="rerank", unit="q", disable=not self.progress or len(queries) < 2, leave=False)
        for q in bar:
            candidates = previous.get(q.query_id, ())
            head = candidates[: self.params.top]
            out[q.query_id] = cascade(candidates, self._scores(q, head))
        if len(queries) > 1 or "pairs" not in self.costs:  # the batch pass, not a per-query timing
            self.costs.update(
                {
                    "pairs": self.stats.pairs_scored + self.stats.pairs_cached,
                    "model_s": round(self.stats.model_s, 4),
                }
            )
        # What this cell computed, over every pass (warm-up, batch, per query).
        self.costs.update({"pairs_scored": self.total.pairs_scored, "score_s": round(self.total.score_s, 4)})
        if self.total.pairs_scored:
            self.costs.update(self._throughput())
        if self.store is not None and self.store.discarded:
            self.costs["pairs_discarded"] = self.store.discarded  # stored scores that failed their checksum
        return Run(out)
