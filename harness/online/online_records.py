"""The typed records of simulated online evaluation, as results.json stores them (`online`).

Sign convention everywhere: a pair is (A, B) with A the baseline (or the pair's first system);
a positive preference or difference means users (or the offline measure) favour B.
"""

from __future__ import annotations

from pydantic import Field

from harness.timing import Record


class ClickModelInfo(Record):
    """The parameters a click model ran with, after presets were scaled to the judgments."""

    name: str
    type: str
    attractiveness: list[float]
    """P(click | examined) by grade 0 .. top grade."""
    stop: list[float] | None = None
    """cascade: P(stop | click); dbn: P(satisfied | click); by grade."""
    examination: list[float] | None = None
    """pbm: P(examined) by rank from 1."""
    continuation: float | None = None
    source: str
    """Where the numbers come from: the preset and its paper, or the fitted file and its sha256."""


class Interval(Record):
    low: float
    high: float


class InterleavingOutcome(Record):
    """One interleaving method under one click model, for one pair."""

    method: str
    click_model: str
    impressions: int
    preference: float
    """Mean credit per impression in [-1, 1]: (B wins - A wins) / impressions for team-draft and
    balanced; the expected outcome over assignments for probabilistic."""
    wins: float
    """Fraction of impressions B won (probabilistic: expected)."""
    losses: float
    ties: float
    interval: Interval
    """Percentile bootstrap interval of `preference` over impressions."""
    impressions_needed: int | None
    """Impressions for a two-sided test at alpha to detect this preference with the configured
    power (normal approximation from the per-impression mean and SD); None when it is zero."""
    per_query: dict[str, float] = Field(default_factory=dict)
    """Mean credit over each query's impressions (queries with at least one)."""


class ABArm(Record):
    """One system shown on its own under one click model."""

    system: str
    impressions: int
    ctr: float
    """Fraction of impressions with at least one click."""
    abandonment: float
    """1 - ctr: impressions without a click."""
    clicks: float
    """Mean clicks per impression (clicks@depth)."""
    first_click_rank: float | None
    """Mean rank of the first click where there was one: a time-to-first-click proxy."""


class ABDifference(Record):
    """B - A for one A/B metric, with its interval and the impressions per arm to detect it."""

    metric: str
    difference: float
    interval: Interval
    impressions_needed: int | None


class ABOutcome(Record):
    click_model: str
    a: ABArm
    b: ABArm
    differences: list[ABDifference]


class OfflineDifference(Record):
    measure: str
    difference: float
    """B - A on the dataset's mean."""
    pvalue: float
    """Paired t-test over the per-query values."""
    pvalue_corrected: float
    """Holm-corrected over the dataset's pairs."""
    significant: bool


class OnlinePair(Record):
    a: str
    b: str
    offline: OfflineDifference
    interleaving: list[InterleavingOutcome] = Field(default_factory=list)
    ab: list[ABOutcome] = Field(default_factory=list)


class Agreement(Record):
    """How often one interleaving method's sign agrees with the offline difference's sign."""

    method: str
    click_model: str
    pairs: int
    agree: int
    rate: float | None
    """agree / pairs over the pairs whose offline difference is not zero; None if there are none."""
    significant_pairs: int
    significant_agree: int


class OnlineDataset(Record):
    queries: int
    """Judged queries impressions are drawn from (uniformly)."""
    top_grade: int
    depth: int
    click_models: list[ClickModelInfo]
    pairs: list[OnlinePair]
    agreement: list[Agreement]
