"""Latency measurement: statistics, the latency: spec mapping, and a pipeline of sleeping stages."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from pydantic import ValidationError

from harness.data.dataset import Dataset
from harness.environment import environment
from harness.errors import SpecError
from harness.plan import StageConfig, SystemVariant, load_plan
from harness.records import Doc, Query, Run, ScoredDoc
from harness.runner.pipeline import run_pipeline
from harness.sections import LatencyConfig
from harness.systems import STAGES, RetrieverParams, Stage, StageContext, StageParams
from harness.threads import thread_counts
from harness.timing import latency_stats

# ------------------------------------------------------------------ statistics


def test_latency_stats_match_hand_computed_percentiles() -> None:
    stats = latency_stats([float(v) for v in range(1, 101)])  # 1..100 ms
    assert stats["n"] == 100
    assert stats["mean"] == pytest.approx(50.5)
    # numpy linear interpolation: position q/100 * (n - 1) in the sorted samples
    assert stats["p50"] == pytest.approx(50.5)
    assert stats["p90"] == pytest.approx(90.1)
    assert stats["p95"] == pytest.approx(95.05)
    assert stats["p99"] == pytest.approx(99.01)
    assert stats["max"] == 100.0


def test_latency_stats_of_one_and_of_no_sample() -> None:
    assert latency_stats([]) == {"n": 0}
    one = latency_stats([7.25])
    assert {k: one[k] for k in ("mean", "p50", "p99", "max")} == {"mean": 7.25, "p50": 7.25, "p99": 7.25, "max": 7.25}


def test_latency_config_defaults_and_errors(tmp_path: Path) -> None:
    assert LatencyConfig() == LatencyConfig(mode="per-query", warmup=5, repeats=1)
    assert LatencyConfig.model_validate({"mode": "batch", "warmup": 0}).mode == "batch"
    # An unquoted YAML `off` arrives as False.
    assert LatencyConfig.model_validate(yaml.safe_load("mode: off")).mode == "off"
    for bad in ({"mode": True}, {"mode": "sometimes"}, {"repeats": 0}, {"warm_up": 3}):
        with pytest.raises(ValidationError):
            LatencyConfig.model_validate(bad)
    # In a spec: one line naming the key, the valid keys and the line.
    spec = tmp_path / "s.yaml"
    head = "name: t\ndatasets: [beir/scifact/test]\nsystems: {b: {type: bm25}}\n"
    spec.write_text(head + "latency:\n  warm_up: 3\n")
    with pytest.raises(SpecError, match="unknown key 'warm_up'; did you mean 'warmup'") as exc:
        load_plan(spec)
    assert exc.value.line == 5
    spec.write_text(head + "latency: {mode: off}\n")
    assert load_plan(spec).settings.latency.mode == "off"


def test_environment_fingerprint_is_stable_and_complete() -> None:
    env = environment()
    assert env == environment()
    assert {"cpu", "arch", "cores", "isa", "os", "python", "packages", "id"} <= set(env)
    assert env["packages"]["numpy"]
    assert len(env["id"]) == 12
    assert isinstance(env["isa"], list)
    assert thread_counts()["cpu_count"] == env["cores"]


# ------------------------------------------------------------------ sleeping pipeline

FIRST_MS = 10.0  # every query
SECOND_MS = 10.0  # most queries ...
SLOW_MS = 60.0  # ... but the last two of 20
N_QUERIES = 20
CALLS: list[tuple[str, tuple[str, ...], tuple[str, ...] | None]] = []


class SleepParams(RetrieverParams):
    pass


class SleepFirst(Stage):
    """Sleeps FIRST_MS per query; records build costs as if loaded from a cache."""

    Params = SleepParams

    def prepare(self) -> None:
        self.costs = {"build_s": 12.5, "cached": True, "docs": 3, "index_bytes": 1024, "odd": object()}

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        CALLS.append(("first", tuple(q.query_id for q in queries), None))
        time.sleep(FIRST_MS / 1000 * len(queries))
        return Run({q.query_id: [ScoredDoc("d1", 2.0), ScoredDoc(q.query_id, 1.0)] for q in queries})


class SleepSecond(Stage):
    """Sleeps SECOND_MS per query, SLOW_MS for q18 and q19."""

    Params = StageParams
    first_stage = False

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        assert previous is not None
        CALLS.append(("second", tuple(q.query_id for q in queries), tuple(previous)))
        time.sleep(sum(SLOW_MS if q.query_id in ("q18", "q19") else SECOND_MS for q in queries) / 1000)
        return previous


def _dataset(n: int = N_QUERIES) -> Dataset:
    queries = {f"q{i}": Query(f"q{i}", f"query {i}") for i in range(n)}
    return Dataset(
        name="tiny",
        source="test",
        location="memory",
        docs={"d1": Doc("d1", "", "text")},
        queries=queries,
        qrels={q: {"d1": 1} for q in queries},
    )


@pytest.fixture
def sleep_variant(monkeypatch: pytest.MonkeyPatch) -> SystemVariant:
    STAGES.names()  # discover the real stages first
    monkeypatch.setitem(STAGES._items, "test-sleep-first", SleepFirst)
    monkeypatch.setitem(STAGES._items, "test-sleep-second", SleepSecond)
    CALLS.clear()
    stages = (
        StageConfig("test-sleep-first", SleepParams(ignore_identical_ids=True)),
        StageConfig("test-sleep-second", StageParams()),
    )
    return SystemVariant("sleepy", "sleepy", stages)


def _ctx(tmp_path: Path, n: int = N_QUERIES) -> StageContext:
    return StageContext(base_dir=tmp_path, data_root=tmp_path, dataset=_dataset(n), progress=False)


def _oversleep_ms() -> float:
    """How late `time.sleep` wakes up on this machine right now (median of a few 10 ms sleeps).

    A loaded machine wakes sleepers late; the tolerances below grow with that measured lateness
    (one per sleep in a sample), never with the value under test."""
    late = []
    for _ in range(7):
        t0 = time.perf_counter()
        time.sleep(0.010)
        late.append((time.perf_counter() - t0) * 1000 - 10.0)
    return max(0.0, statistics.median(late))


def test_per_query_latency_matches_known_sleeps(sleep_variant: SystemVariant, tmp_path: Path) -> None:
    out = run_pipeline(sleep_variant, _ctx(tmp_path), LatencyConfig(warmup=2))
    late = _oversleep_ms()
    tol1, tol2 = 3.0 + 2 * late, 5.0 + 4 * late  # one sleep, two sleeps
    t = json.loads(json.dumps(out.timing.to_dict()))  # JSON-serialisable as is
    assert t["query_ids"] == [f"q{i}" for i in range(N_QUERIES)]
    # Known per-query totals: 18 queries at 20 ms, 2 at 70 ms. numpy's p50 lies between two
    # 20 ms samples, p95 (position 18.05) between the two 70 ms samples.
    lat = t["latency"]
    assert lat["n"] == N_QUERIES
    assert 20.0 - 0.1 <= lat["p50"] <= 20.0 + tol2
    assert 70.0 - 0.1 <= lat["p95"] <= 70.0 + 2 * tol2
    assert lat["max"] >= 70.0 - 0.1
    first, second = t["stages"]
    assert 10.0 - 0.1 <= first["latency"]["p50"] <= 10.0 + tol1
    assert 10.0 - 0.1 <= second["latency"]["p50"] <= 10.0 + tol1
    assert 60.0 - 0.1 <= second["latency"]["p95"] <= 60.0 + 2 * tol1
    # Per-stage times add up to the pipeline time, query by query.
    for i, total in enumerate(t["samples_ms"]):
        parts = first["samples_ms"][i] + second["samples_ms"][i]
        assert parts <= total + 0.01
        assert total - parts <= 2.0 + 2 * late
    assert t["latency"]["mean"] == pytest.approx(sum(t["samples_ms"]) / N_QUERIES, abs=1e-3)
    # The stored statistics are those of the stored samples (so they can be recomputed).
    assert latency_stats(t["samples_ms"]) == lat
    assert latency_stats(second["samples_ms"]) == second["latency"]
    # CPU time per query is stored beside wall time; sleeping costs the process (nearly) none.
    assert len(t["cpu_samples_ms"]) == N_QUERIES
    assert latency_stats(t["cpu_samples_ms"]) == t["cpu_latency"]
    assert t["cpu_latency"]["p50"] < 0.5 * lat["p50"]
    # Batch pass: the sum of the sleeps at least; throughput derived from it.
    batch_floor = (N_QUERIES * FIRST_MS + 18 * SECOND_MS + 2 * SLOW_MS) / 1000
    assert t["batch"]["seconds"] >= batch_floor - 0.001
    assert t["batch"]["qps"] == pytest.approx(N_QUERIES / t["batch"]["seconds"], rel=1e-3)
    # The run is the batch pass's, after ignore_identical_ids.
    assert set(out.run) == {f"q{i}" for i in range(N_QUERIES)}
    assert [d.doc_id for d in out.run["q3"]] == ["d1"]


def test_per_query_pass_feeds_each_stage_one_query(sleep_variant: SystemVariant, tmp_path: Path) -> None:
    # retimes=0: one per-query pass however busy the machine (tests/unit/test_noise.py re-times)
    run_pipeline(sleep_variant, _ctx(tmp_path, 6), LatencyConfig(warmup=2, retimes=0))
    firsts = [c for c in CALLS if c[0] == "first"]
    seconds = [c for c in CALLS if c[0] == "second"]
    # 2 warm-up queries, one batch of 6, then 6 single queries and the slowest one again
    # (the tail-drift check of harness.noise: 5% of 6, at least one)
    assert [len(c[1]) for c in firsts] == [1, 1, 6, 1, 1, 1, 1, 1, 1, 1]
    for _, queries, previous in seconds:
        assert previous == queries  # the later stage gets exactly that query's slice


class ProgressProbe(Stage):
    """Records, at each call, whether it may draw progress bars."""

    Params = StageParams
    first_stage = False
    seen: ClassVar[list[tuple[int, bool]]] = []

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        assert previous is not None
        ProgressProbe.seen.append((len(queries), self.progress))
        return previous


def test_progress_bars_only_in_the_batch_pass(
    sleep_variant: SystemVariant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(STAGES._items, "test-probe", ProgressProbe)
    ProgressProbe.seen = []
    variant = SystemVariant("probe", "probe", (sleep_variant.stages[0], StageConfig("test-probe", StageParams())))
    ctx = StageContext(base_dir=tmp_path, data_root=tmp_path, dataset=_dataset(3), progress=True)
    run_pipeline(variant, ctx, LatencyConfig(warmup=1, retimes=0))
    # warm-up (1 query), the per-query pass (3) and its slowest query again are quiet; the
    # batch pass (3 queries) may draw
    assert ProgressProbe.seen == [(1, False), (3, True), (1, False), (1, False), (1, False), (1, False)]


def test_costs_recorded_when_computed_are_kept(sleep_variant: SystemVariant, tmp_path: Path) -> None:
    t = run_pipeline(sleep_variant, _ctx(tmp_path, 2), LatencyConfig(mode="batch", warmup=0)).timing.to_dict()
    first = t["stages"][0]
    assert first["cached"] is True
    assert first["costs"]["build_s"] == 12.5
    assert first["costs"]["docs"] == 3
    assert first["costs"]["index_bytes"] == 1024
    assert first["costs"]["odd"].startswith("<object")  # not JSON: stored as its repr
    assert t["offline"]["cached"] is True
    assert t["offline"]["build_s"] == pytest.approx(12.5 + t["stages"][1]["prepare_s"])
    assert t["stages"][1]["costs"] == {}
    assert t["stages"][1]["cached"] is False
    assert t["memory"]["peak_rss_bytes"] > 0
    assert t["environment_id"] == environment()["id"]


@pytest.mark.parametrize(("mode", "calls"), [("batch", 3), ("off", 1)])
def test_batch_and_off_modes_time_no_single_queries(
    sleep_variant: SystemVariant, tmp_path: Path, mode: str, calls: int
) -> None:
    t = run_pipeline(sleep_variant, _ctx(tmp_path, 3), LatencyConfig(mode=mode, warmup=2)).timing.to_dict()
    assert t["samples_ms"] == []
    assert t["latency"]["n"] == 0
    assert t["batch"]["queries"] == 3
    assert len([c for c in CALLS if c[0] == "first"]) == calls  # 'off' skips the warm-up


def test_repeats_and_max_queries(sleep_variant: SystemVariant, tmp_path: Path) -> None:
    t = run_pipeline(
        sleep_variant, _ctx(tmp_path, 5), LatencyConfig(warmup=0, repeats=2, max_queries=3)
    ).timing.to_dict()
    assert t["query_ids"] == ["q0", "q1", "q2", "q0", "q1", "q2"]
    assert t["latency"]["n"] == 6
    assert len(t["stages"][0]["samples_ms"]) == 6


class CachedScores(Stage):
    """Serves every query from a 'cache': 1 ms of lookup, 30 ms recorded when it was computed."""

    Params = StageParams
    first_stage = False

    def search(self, queries: Sequence[Query], previous: Run | None) -> Run:
        assert previous is not None
        time.sleep(0.001 * len(queries))
        self.replayed_s = 0.030 * len(queries)
        self.costs["pairs_cached"] = self.costs.get("pairs_cached", 0) + len(queries)
        return previous


def test_cached_online_work_counts_at_its_recorded_cost(
    sleep_variant: SystemVariant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(STAGES._items, "test-cached", CachedScores)
    stages = (sleep_variant.stages[0], StageConfig("test-cached", StageParams()))
    variant = SystemVariant("cached", "cached", stages)
    t = run_pipeline(variant, _ctx(tmp_path, 4), LatencyConfig(warmup=1, retimes=0)).timing.to_dict()
    late = _oversleep_ms()
    cached = t["stages"][1]
    assert 31.0 - 0.1 <= cached["latency"]["p50"] <= 31.0 + 3.0 + 2 * late
    assert cached["replayed_ms"] == pytest.approx(4 * 30.0)
    assert t["stages"][0]["replayed_ms"] == 0.0
    assert 41.0 - 0.1 <= t["latency"]["p50"] <= 41.0 + 5.0 + 4 * late  # 10 ms first stage + 31 ms
    assert t["batch"]["replayed_s"] == pytest.approx(4 * 0.030)
    assert t["batch"]["seconds"] >= 4 * (0.010 + 0.031) - 0.001
    # read after the warm-up, the batch pass, the per-query pass and its slowest query timed again
    assert cached["costs"]["pairs_cached"] == 1 + 4 + 4 + 1
