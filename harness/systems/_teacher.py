"""A cross-encoder teacher's score margins for distillation (MarginMSE): for each training
example, teacher(query, positive) - teacher(query, negative_i).

The teacher is the `rerank` stage itself, run over each training query's positives and mined
negatives, so its scores come from (and go to) the same pair-score store a re-ranking run of
that model uses: pairs scored once, for training or for re-ranking, are never scored again.
"""

from __future__ import annotations

import sys

from harness.records import Query, Run, ScoredDoc
from harness.systems import StageContext
from harness.systems._training_data import TrainingSet


def teacher_margins(teacher: str, data: TrainingSet, ctx: StageContext) -> list[list[float]]:
    """`ctx`: the training dataset's context (the teacher reads its documents)."""
    from tqdm import tqdm

    from harness.systems.rerank import Rerank, RerankParams

    candidates: dict[str, dict[str, None]] = {}
    texts: dict[str, str] = {}
    for e in data.examples:
        texts[e.query_id] = e.query
        candidates.setdefault(e.query_id, {}).update(dict.fromkeys((e.positive_id, *e.negative_ids)))
    stage = Rerank(RerankParams(model=teacher, top=max(len(c) for c in candidates.values())), ctx)
    stage.prepare()
    scores: dict[tuple[str, str], float] = {}
    bar = tqdm(total=len(candidates), desc="teacher scores", unit="query", disable=not ctx.progress, file=sys.stderr)
    with bar:
        for qid, docs in candidates.items():
            previous = Run({qid: [ScoredDoc(d, float(len(docs) - i)) for i, d in enumerate(docs)]})
            ranked = stage.search([Query(qid, texts[qid])], previous)
            scores.update({(qid, d.doc_id): d.score for d in ranked[qid]})
            bar.update(1)
    return [
        [scores[(e.query_id, e.positive_id)] - scores[(e.query_id, n)] for n in e.negative_ids] for e in data.examples
    ]
