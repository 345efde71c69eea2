"""The spec's `online:` section end to end on TREC DL 2019 and 2020: the six reference runs of
each year against each other (30 pairs), team-draft interleaving under PBM informational with
10,000 impressions per pair; the agreement with the offline nDCG@10 differences, byte-identical
results for one seed, the report's section, a fitted click model driving the simulation, and
spec mistakes refused at their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.results import ResultSet
from tests.support import REPO, assert_one_clear_line, run_cli, write_spec

SPEC = REPO / "experiments" / "trec-dl-online.yaml"


@pytest.fixture(scope="module")
def online(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    out = tmp_path_factory.mktemp("online")
    code, _, err = run_cli("run", str(SPEC), "-o", str(out), "-q")
    assert code == 0, err
    return out


def test_significant_offline_differences_agree_in_sign(online: Path) -> None:
    results = ResultSet.load(online)
    assert set(results.online) == {"dl19", "dl20"}
    lines = []
    for name, data in results.online.items():
        assert data.top_grade == 3
        assert data.queries == (43 if name == "dl19" else 54)
        assert len(data.pairs) == 15
        significant = [p for p in data.pairs if p.offline.significant]
        assert significant, "the reference runs include BM25 against neural runs: some pairs differ significantly"
        for p in significant:
            (o,) = p.interleaving
            assert o.impressions == 10_000
            assert o.preference * p.offline.difference > 0, (name, p.a, p.b, o.preference, p.offline.difference)
            assert o.interval.low * o.interval.high > 0, "10,000 impressions separate these pairs"
        (agreement,) = data.agreement
        assert agreement.significant_agree == agreement.significant_pairs == len(significant)
        lines.append(f"{name}: {agreement.agree}/{agreement.pairs} agree, {len(significant)} significant")
        # A/B: the arms and both differences per pair, intervals around the differences.
        for p in data.pairs:
            (ab,) = p.ab
            assert ab.a.system == p.a
            assert ab.b.system == p.b
            for d in ab.differences:
                assert d.interval.low <= d.difference <= d.interval.high
    print("; ".join(lines))


def test_same_seed_same_bytes(online: Path, tmp_path: Path) -> None:
    code, _, err = run_cli("run", str(SPEC), "-o", str(tmp_path), "-q", "--force")
    assert code == 0, err
    first = json.loads((online / "results.json").read_text())["online"]
    second = json.loads((tmp_path / "results.json").read_text())["online"]
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_report_shows_the_online_section_and_plot(online: Path) -> None:
    code, _, err = run_cli("report", str(online))
    assert code == 0, err
    html = (online / "report.html").read_text(encoding="utf-8")
    assert "Online tests, simulated" in html
    assert "interleaving preference against the offline difference" in html
    assert (online / "plots" / "dl19-online.svg").is_file()
    assert (online / "plots" / "dl20-online.svg").is_file()
    assert "Simulated interleaving, sign agreement with offline nDCG@10" in (online / "report.md").read_text()


def _spec(online_section: str, root: Path) -> str:
    runs = f"{root}/msmarco/trec-dl/runs"
    return (
        "name: o\ndatasets: [{id: msmarco/trec-dl/dl19-full, name: dl19}]\nmeasures: [nDCG@10]\n"
        f"systems:\n  bm25: {{type: run, path: {runs}/bm25-dl19.trec}}\n"
        f"  tas-b: {{type: run, path: {runs}/tas-b-dl19.trec}}\n"
        "latency: {mode: off}\n" + online_section
    )


def test_fitted_model_drives_the_simulation(data_root: Path, tmp_path: Path) -> None:
    base = data_root / "msmarco/trec-dl"
    log, fitted = tmp_path / "log.tsv", tmp_path / "fitted.json"
    qrels = str(base / "qrels/dl19-full.tsv")
    assert (
        run_cli("clicks", "sample", "--run", str(base / "runs/bm25-dl19.trec"), "--qrels", qrels, "-o", str(log))[0]
        == 0
    )
    assert run_cli("clicks", "fit", str(log), "--qrels", qrels, "-o", str(fitted))[0] == 0
    section = (
        "online:\n  click_models: [{from: fitted.json}, pbm-informational]\n"
        "  interleaving: [team-draft, probabilistic]\n  impressions: 2000\n"
    )
    spec = write_spec(tmp_path, _spec(section, data_root))
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 0, err
    data = ResultSet.load(tmp_path / "out").online["dl19"]
    assert [m.name for m in data.click_models] == ["fitted", "pbm-informational"]
    assert data.click_models[0].source.startswith("fitted: fitted.json (sha256 ")
    (pair,) = data.pairs
    assert [(o.method, o.click_model) for o in pair.interleaving] == [
        ("team-draft", "fitted"), ("team-draft", "pbm-informational"),
        ("probabilistic", "fitted"), ("probabilistic", "pbm-informational"),
    ]  # fmt: skip
    assert all(o.preference > 0 for o in pair.interleaving)  # TAS-B is far better than BM25 on DL19


@pytest.mark.parametrize(
    ("section", "needles"),
    [
        ("online: {pairs: [[bm25, tas-c]]}\n", ["spec.yaml:8", "tas-c", "did you mean"]),
        ("online: {measure: AP}\n", ["spec.yaml:8", "online.measure names measure 'AP'"]),
        ("online: {click_models: [pbm-informatonal]}\n", ["spec.yaml:8", "informatonal"]),
        ("online: {click_models: [{from: nothere.json}]}\n", ["spec.yaml:8", "nothere.json", "not found"]),
        (
            "online: {click_models: [{type: pbm, preset: perfect, examination: [1, 0.5]}]}\n",
            ["spec.yaml:8", "examination lists 2 ranks, depth is 10"],
        ),
        ("online: {top_grade: 2}\n", ["spec.yaml:8", "grade 3 judgments, above online.top_grade 2"]),
        ("online: {interleaving: [team-draft, team-draft]}\n", ["spec.yaml:8", "listed twice"]),
        ("online: {impressions: 10}\n", ["spec.yaml:8", "impressions"]),
        ("online:\n", ["spec.yaml:8", "the section is empty"]),
        (
            "online: {click_models: [{type: pbm, preset: perfect, attractiveness: [0, 0.3, 0.6, 1]}]}\n",
            ["spec.yaml:8", "give the preset or your own values, not both"],
        ),
        ("online: {pairs: [bm25, tas-b]}\n", ["spec.yaml:8", "pairs: [[bm25, tas-b], ...]"]),
    ],
    ids=[
        "unknown-system", "measure-not-in-spec", "bad-preset", "missing-fitted", "short-examination", "top-grade",
        "twice", "too-few", "empty", "preset-and-values", "flat-pairs",
    ],
)  # fmt: skip
def test_spec_mistakes_are_one_line(data_root: Path, tmp_path: Path, section: str, needles: list[str]) -> None:
    spec = write_spec(tmp_path, _spec(section, data_root))
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert_one_clear_line(code, err, *needles)


def test_online_table_in_pandas(online: Path) -> None:
    from harness.frames import load_results

    frame = load_results(online).online()
    results = ResultSet.load(online)
    assert len(frame) == 2 * 15 * 3  # per pair: the team-draft preference, the A/B ctr and clicks differences
    row = frame[
        (frame.dataset == "dl20") & (frame.b == "repllama") & (frame.a == "bm25") & (frame.test == "team-draft")
    ]
    pair = next(p for p in results.online["dl20"].pairs if (p.a, p.b) == ("bm25", "repllama"))
    assert row["value"].item() == pair.interleaving[0].preference
    assert row["offline_difference"].item() == pair.offline.difference
    assert bool(row["offline_significant"].item()) is True
