"""The report's view of a dataset's simulated online tests (results.json `online`): one row per
pair and interleaving outcome, the A/B differences, and the points of the preference plot."""

from __future__ import annotations

from dataclasses import dataclass

from harness.online.online_records import Agreement, ClickModelInfo, OnlineDataset


@dataclass(frozen=True)
class InterleavingRow:
    a: str
    b: str
    method: str
    click_model: str
    offline_difference: float
    offline_p: float
    significant: bool
    preference: float
    low: float
    high: float
    needed: int | None
    agrees: bool | None
    """Same sign as the offline difference (None where that difference is zero)."""


@dataclass(frozen=True)
class AbRow:
    a: str
    b: str
    click_model: str
    ctr_a: float
    ctr_b: float
    ctr_difference: float
    ctr_low: float
    ctr_high: float
    ctr_needed: int | None
    clicks_difference: float
    clicks_needed: int | None
    first_a: float | None
    first_b: float | None


@dataclass(frozen=True)
class OnlineView:
    measure: str
    queries: int
    top_grade: int
    depth: int
    impressions: int
    click_models: list[ClickModelInfo]
    interleaving: list[InterleavingRow]
    ab: list[AbRow]
    agreement: list[Agreement]


def _ab_rows(data: OnlineDataset) -> list[AbRow]:
    rows = []
    for p in data.pairs:
        for o in p.ab:
            d = {x.metric: x for x in o.differences}
            rows.append(
                AbRow(
                    a=p.a,
                    b=p.b,
                    click_model=o.click_model,
                    ctr_a=o.a.ctr,
                    ctr_b=o.b.ctr,
                    ctr_difference=d["ctr"].difference,
                    ctr_low=d["ctr"].interval.low,
                    ctr_high=d["ctr"].interval.high,
                    ctr_needed=d["ctr"].impressions_needed,
                    clicks_difference=d["clicks"].difference,
                    clicks_needed=d["clicks"].impressions_needed,
                    first_a=o.a.first_click_rank,
                    first_b=o.b.first_click_rank,
                )
            )
    return rows


def online_view(data: OnlineDataset | None) -> OnlineView | None:
    if data is None or not data.pairs:
        return None
    rows = [
        InterleavingRow(
            a=p.a,
            b=p.b,
            method=o.method,
            click_model=o.click_model,
            offline_difference=p.offline.difference,
            offline_p=p.offline.pvalue_corrected,
            significant=p.offline.significant,
            preference=o.preference,
            low=o.interval.low,
            high=o.interval.high,
            needed=o.impressions_needed,
            agrees=None if p.offline.difference == 0 else (p.offline.difference > 0) == (o.preference > 0),
        )
        for p in data.pairs
        for o in p.interleaving
    ]
    first = data.pairs[0]
    impressions = first.interleaving[0].impressions if first.interleaving else first.ab[0].a.impressions
    return OnlineView(
        measure=first.offline.measure,
        queries=data.queries,
        top_grade=data.top_grade,
        depth=data.depth,
        impressions=impressions,
        click_models=data.click_models,
        interleaving=rows,
        ab=_ab_rows(data),
        agreement=data.agreement,
    )
