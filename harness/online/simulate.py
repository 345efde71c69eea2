"""One dataset's online section: every pair under every click model and interleaving method,
the A/B arms, the offline differences they are set against, and the agreement between the two.

Each simulation draws from its own stream (harness.online.power.stream), fixed by the seed and
the names of what it simulates, so a result does not change when other systems, models or
methods are added to the spec, and the same seed gives byte-identical results.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import DataError
from harness.online.ab_sim import ArmSample, ab_outcome, simulate_arm
from harness.online.click_models import ClickModel, build_click_model
from harness.online.interleaving import INTERLEAVERS, Credit, QueryPair, Shown, grades_of
from harness.online.online_records import (
    Agreement,
    InterleavingOutcome,
    OfflineDifference,
    OnlineDataset,
    OnlinePair,
)
from harness.online.power import bootstrap_interval, needed_for_mean, stream

if TYPE_CHECKING:
    from harness.online.fitted import FittedModel
    from harness.sections import OnlineConfig


@dataclass(frozen=True)
class OnlineInputs:
    """What one dataset's simulation reads: the judged queries and their judgments, each
    system's ranking per query (document ids, best first) and its offline measure."""

    dataset: str
    queries: Sequence[str]
    qrels: Mapping[str, Mapping[str, int]]
    rankings: Mapping[str, Mapping[str, Sequence[str]]]
    per_query: Mapping[str, Mapping[str, float]]
    aggregate: Mapping[str, float]


def pairs_of(config: OnlineConfig, systems: Sequence[str], baseline: str | None) -> list[tuple[str, str]]:
    """The (A, B) pairs the section asks for: listed ones, every pair in spec order (`all`), or
    every system against online.baseline, else `baseline` (compare's), else the first system."""
    if isinstance(config.pairs, list):
        return [(a, b) for a, b in config.pairs]
    if config.pairs == "all":
        return list(itertools.combinations(systems, 2))
    base = config.baseline or baseline or systems[0]
    return [(base, s) for s in systems if s != base]


def top_grade(config: OnlineConfig, qrels: Mapping[str, Mapping[str, int]], dataset: str) -> int:
    """The judgments' top grade: online.top_grade, else the largest grade judged (at least 1)."""
    largest = max((g for judged in qrels.values() for g in judged.values()), default=1)
    if config.top_grade is None:
        return max(1, largest)
    if largest > config.top_grade:
        raise DataError(
            f"dataset '{dataset}' has grade {largest} judgments, above online.top_grade {config.top_grade}",
            hint="raise online.top_grade to the judgments' scale or leave it out",
        )
    return config.top_grade


def _offline(
    inputs: OnlineInputs, pairs: Sequence[tuple[str, str]], measure: str, alpha: float
) -> list[OfflineDifference]:
    from harness.evaluation.stats import holm, paired_t

    diffs, pvalues = [], []
    for a, b in pairs:
        va = [inputs.per_query[a].get(q, 0.0) for q in inputs.queries]
        vb = [inputs.per_query[b].get(q, 0.0) for q in inputs.queries]
        diffs.append(inputs.aggregate[b] - inputs.aggregate[a])
        p = paired_t(va, vb).pvalue
        pvalues.append(1.0 if math.isnan(p) else p)
    corrected = holm(pvalues)
    return [
        OfflineDifference(measure=measure, difference=d, pvalue=p, pvalue_corrected=c, significant=c < alpha)
        for d, p, c in zip(diffs, pvalues, corrected, strict=True)
    ]


class _Simulation:
    def __init__(self, config: OnlineConfig, inputs: OnlineInputs, models: list[ClickModel], top: int) -> None:
        self.config, self.inputs, self.models = config, inputs, models
        self.grade = {q: {d: max(0, g) for d, g in inputs.qrels.get(q, {}).items()} for q in inputs.queries}
        self.arms: dict[tuple[str, str], ArmSample] = {}
        self.top = top

    def ranking(self, system: str, query: str) -> Sequence[str]:
        return self.inputs.rankings[system].get(query, ())

    def interleave(self, a: str, b: str, method: str) -> list[InterleavingOutcome]:
        import numpy as np

        cfg, queries, name = self.config, self.inputs.queries, self.inputs.dataset
        rng = stream(cfg.seed, "interleave", name, a, b, method)
        counts = np.bincount(rng.integers(0, len(queries), size=cfg.impressions), minlength=len(queries))
        interleaver = INTERLEAVERS.get(method)()
        parts: list[Shown] = []
        owner: list[int] = []
        for i, (q, count) in enumerate(zip(queries, counts.tolist(), strict=True)):
            if count:
                pair = QueryPair(self.ranking(a, q), self.ranking(b, q), self.grade[q])
                parts.append(interleaver.show(pair, count, cfg.depth, rng))
                owner += [i] * count
        shown, query_of = Shown.concat(parts), np.asarray(owner)
        out = []
        for model in self.models:
            clicks_rng = stream(cfg.seed, "clicks", name, a, b, method, model.name)
            credit = interleaver.credit(shown, model.clicks(shown.grades, clicks_rng))
            out.append(self._outcome(method, model.name, credit, query_of, clicks_rng))
        return out

    def _outcome(self, method: str, model: str, credit: Credit, query_of: Any, rng: Any) -> InterleavingOutcome:
        import numpy as np

        o, b_wins, a_wins = credit.outcome, credit.b_wins, credit.a_wins
        cfg, queries = self.config, self.inputs.queries
        n = len(o)
        sums = np.bincount(query_of, weights=o, minlength=len(queries))
        seen = np.bincount(query_of, minlength=len(queries))
        mean, wins, losses = float(o.mean()), float(b_wins.mean()), float(a_wins.mean())
        return InterleavingOutcome(
            method=method,
            click_model=model,
            impressions=n,
            preference=mean,
            wins=wins,
            losses=losses,
            ties=max(0.0, 1.0 - wins - losses),
            interval=bootstrap_interval(o, cfg.resamples, cfg.confidence, rng),
            impressions_needed=needed_for_mean(mean, float(o.std()), cfg.alpha, cfg.power),
            per_query={q: float(sums[i] / seen[i]) for i, q in enumerate(queries) if seen[i]},
        )

    def arm(self, system: str, model: ClickModel) -> ArmSample:
        import numpy as np

        key = (system, model.name)
        if key not in self.arms:
            grades = np.asarray(
                [grades_of(self.ranking(system, q), self.grade[q], self.config.depth) for q in self.inputs.queries],
                dtype=np.int64,
            )
            rng = stream(self.config.seed, "ab", self.inputs.dataset, system, model.name)
            self.arms[key] = simulate_arm(system, grades, model, self.config.impressions, rng)
        return self.arms[key]


def _agreement(pairs: list[OnlinePair]) -> list[Agreement]:
    keys = list(dict.fromkeys((o.method, o.click_model) for p in pairs for o in p.interleaving))
    out = []
    for method, model in keys:
        outcomes = [
            (p.offline, o) for p in pairs for o in p.interleaving if (o.method, o.click_model) == (method, model)
        ]
        decided = [(off, o) for off, o in outcomes if off.difference != 0]
        agree = [(off, o) for off, o in decided if math.copysign(1, off.difference) * o.preference > 0]
        out.append(
            Agreement(
                method=method,
                click_model=model,
                pairs=len(decided),
                agree=len(agree),
                rate=len(agree) / len(decided) if decided else None,
                significant_pairs=sum(1 for off, _ in decided if off.significant),
                significant_agree=sum(1 for off, _ in agree if off.significant),
            )
        )
    return out


def simulate_dataset(
    config: OnlineConfig,
    inputs: OnlineInputs,
    pairs: Sequence[tuple[str, str]],
    fitted: Mapping[str, FittedModel],
    tick: Callable[[], None] = lambda: None,
) -> OnlineDataset:
    """The online section of one dataset; `tick` is called once per pair (a progress bar)."""
    top = top_grade(config, inputs.qrels, inputs.dataset)
    models = [build_click_model(c, top, config.depth, fitted.get(c.label())) for c in config.click_models]
    sim = _Simulation(config, inputs, models, top)
    offline = _offline(inputs, pairs, config.measure, config.alpha)
    results = []
    for (a, b), off in zip(pairs, offline, strict=True):
        interleaving = [o for method in config.interleaving for o in sim.interleave(a, b, method)]
        ab = []
        if config.ab:
            ab = [
                ab_outcome(m.name, sim.arm(a, m), sim.arm(b, m), config.alpha, config.power, config.confidence)
                for m in models
            ]
        results.append(OnlinePair(a=a, b=b, offline=off, interleaving=interleaving, ab=ab))
        tick()
    return OnlineDataset(
        queries=len(inputs.queries),
        top_grade=top,
        depth=config.depth,
        click_models=[m.info for m in models],
        pairs=results,
        agreement=_agreement(results),
    )
