"""One typed plan, parsed once: every settings section checked at every depth at load, names
that point at systems or measures resolved at load, duplicate YAML keys refused, and nothing
downstream parsing a section again."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from harness.data.dataset import Dataset
from harness.data.ref import DatasetRef, QuerySubset
from harness.data.resolve import SubsetWarning, select
from harness.errors import SpecError
from harness.plan import SystemVariant, load_plan
from harness.records import Doc, Query, Run
from harness.results import ResultSet
from harness.runner.cells import run_key
from harness.sections import CompareConfig, GateRules, ReportConfig, Settings
from harness.systems import STAGES, Stage, StageContext, StageParams
from tests.support import REPO, run_cli, write_spec

HEAD = "name: p\ndatasets: [beir/scifact/test]\nmeasures: [nDCG@10, R@100]\nsystems:\n  bm25: {type: bm25}\n"
"""Lines 1-5; a section appended below starts at line 6."""


def _run_fails_at(tmp_path: Path, spec: Path, line: int, *needles: str) -> str:
    """`harness run` exits 2 with one line naming spec:line, before creating the output."""
    out = tmp_path / "out"
    code, _, err = run_cli("run", str(spec), "-o", str(out))
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert f"{spec}:{line}:" in lines[0], lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    assert not out.exists()
    return lines[0]


# ------------------------------------------------------------------ settings sections, every depth


@pytest.mark.parametrize(
    ("body", "line", "needles"),
    [
        ("latency:\n  mode: batch\n  warmpu: 3\n", 8, ["unknown key 'warmpu'", "did you mean 'warmup'", "max_queries"]),
        ("latency: {mode: sometimes}\n", 6, ["'latency.mode'", "sometimes"]),
        ("compare:\n  baseline: bm25\n  tets: [t]\n", 8, ["unknown key 'tets'; did you mean 'tests'?"]),
        ("compare:\n  bootstrap:\n    resampels: 500\n", 8, ["unknown key 'resampels'", "valid keys: resamples"]),
        ("compare: {correction: sidak}\n", 6, ["'compare.correction'", "sidak"]),
        ("gate:\n  max_dorp: 0.01\n", 7, ["unknown key 'max_dorp'", "did you mean 'max_drop'"]),
        ("gate:\n  margin: 0.01\n  latency:\n    clokc: cpu\n", 9, ["unknown key 'clokc'", "did you mean 'clock'"]),
        ("gate:\n  latency: {percentiles: [p75]}\n", 7, ["'gate.latency.percentiles.0'", "p75"]),
        ("gate: {margin: -0.5}\n", 6, ["non-negative"]),
        ("report: {measur: nDCG@10}\n", 6, ["unknown key 'measur'", "did you mean 'measure'"]),
        ("report:\n  latency: p42\n", 7, ["'report.latency'", "p42"]),
    ],
)
def test_a_typo_deep_in_any_section_fails_before_any_work(
    tmp_path: Path, body: str, line: int, needles: list[str]
) -> None:
    _run_fails_at(tmp_path, write_spec(tmp_path, HEAD + body), line, *needles)


@pytest.mark.parametrize(
    ("body", "line", "needles"),
    [
        ("compare: {baseline: nosuch}\n", 6, ["compare.baseline names system 'nosuch'", "systems: bm25"]),
        ("compare:\n  measures: [nDCG@10, P@5]\n", 7, ["compare.measures names measure 'P@5'"]),
        ("report:\n  baseline: bm52\n", 7, ["report.baseline names system 'bm52'", "did you mean 'bm25'"]),
        ("report:\n  measure: P@5\n", 7, ["report.measure names measure 'P@5'", "nDCG@10, R@100"]),
        ("report: {measure: nDCG@ten}\n", 6, ["nDCG@ten"]),
        ("gate:\n  latency: {reference: nosuch}\n", 7, ["gate.latency.reference names system 'nosuch'"]),
        ("gate:\n  exact:\n    - bm25\n    - nosuch\n", 9, ["gate.exact names system 'nosuch'"]),
    ],
)
def test_a_name_that_points_nowhere_fails_at_its_line(tmp_path: Path, body: str, line: int, needles: list[str]) -> None:
    _run_fails_at(tmp_path, write_spec(tmp_path, HEAD + body), line, *needles)


def test_a_sweep_base_name_is_ambiguous_but_a_single_variant_base_resolves(tmp_path: Path) -> None:
    head = (
        "name: p\ndatasets: [beir/scifact/test]\nsystems:\n"
        "  bm25: {type: bm25, k1: [0.9, 1.2]}\n  one: {type: bm25, b: [0.4]}\n"
    )
    _run_fails_at(tmp_path, write_spec(tmp_path, head + "compare: {baseline: bm25}\n"), 6, "a sweep of 2 variants")
    spec = write_spec(
        tmp_path,
        head.replace("systems:", "measures: [nDCG@10, R@100]\nsystems:")
        + "compare: {baseline: one, measures: ['R@100']}\nreport: {baseline: 'bm25@k1=1.2', measure: nDCG@10}\n"
        "gate: {exact: [one], latency: {reference: one}}\n",
    )
    s = load_plan(spec).settings
    # Stored with the names the results use (variant names), so downstream needs no resolving.
    assert s.compare.baseline == "one@b=0.4"
    assert s.report.baseline == "bm25@k1=1.2"
    assert s.gate.exact == ["one@b=0.4"]
    assert s.gate.latency.reference == "one@b=0.4"
    assert s.compare.measures == ["R@100"]
    # Keys the spec does not set stay unset: `harness gate --spec` overrides only those.
    assert s.gate.model_dump(exclude_unset=True) == {"exact": ["one@b=0.4"], "latency": {"reference": "one@b=0.4"}}


def test_plan_types_every_section(tmp_path: Path) -> None:
    plan = load_plan(
        write_spec(
            tmp_path, HEAD + "latency: {mode: batch}\ncompare: {baseline: bm25}\ngate: {max_drop: {nDCG@10: 0.02}}\n"
        )
    )
    assert isinstance(plan.settings, Settings)
    assert plan.settings.latency.mode == "batch"
    assert plan.settings.compare == CompareConfig(baseline="bm25")
    assert plan.settings.gate.threshold("max_drop", "nDCG@10") == 0.02
    assert plan.settings.report == ReportConfig()
    assert plan.measure_names == ("nDCG@10", "R@100")
    assert [m.trec_name for m in plan.measures] == ["ndcg_cut_10", "recall_100"]
    assert [v.name for v in plan.ordered] == ["bm25"]
    assert plan.raw["compare"] == {"baseline": "bm25"}  # provenance: the spec as written


# ------------------------------------------------------------------ YAML read once


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (HEAD + "name: q\n", 6, "key 'name' appears twice (lines 1 and 6)"),
        (HEAD + "  bm25: {type: bm25, k1: 1.2}\n", 6, "key 'bm25' appears twice (lines 5 and 6)"),
        ("name: p\ndatasets: [beir/scifact/test]\nsystems:\n  b: {type: bm25, k1: 0.9, k1: 1.2}\n", 4, "key 'k1'"),
        (HEAD + "gate:\n  latency:\n    clock: cpu\n    clock: wall\n", 9, "(lines 8 and 9)"),
    ],
)
def test_a_repeated_key_is_an_error_not_a_silent_override(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(text, encoding="utf-8")
    msg = _run_fails_at(tmp_path, p, line, needle)
    assert "appears twice" in msg


def test_yaml_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the spec was parsed a second time")

    for name in ("safe_load", "load", "full_load", "unsafe_load"):
        monkeypatch.setattr(yaml, name, refuse)
    plan = load_plan(write_spec(tmp_path, HEAD + "latency: {mode: off}\n"))
    assert plan.settings.latency.mode == "off"  # YAML 1.1 `off` is still false, as safe_load reads it


def test_anchors_merge_keys_and_interpolation(tmp_path: Path) -> None:
    text = (
        "name: p\ndatasets: [{path: '${COLL:-coll}', split: '${SPLIT}'}]\nsystems:\n"
        "  a: &base {type: bm25, k1: 0.9, b: 0.4}\n"
        "  c: {<<: *base, k1: 1.2}\n"
    )
    plan = load_plan(write_spec(tmp_path, text), env={"SPLIT": "dev"})
    assert plan.datasets[0].path == str(tmp_path / "coll")  # relative to the spec's folder
    assert plan.datasets[0].split == "dev"
    k1 = {v.name: v.stages[0].params.k1 for v in plan.systems}  # type: ignore[attr-defined]
    assert k1 == {"a": 0.9, "c": 1.2}
    with pytest.raises(SpecError, match="'MISSING' is not set") as exc:
        load_plan(write_spec(tmp_path, text.replace("${SPLIT}", "${MISSING}")), env={})
    assert exc.value.line == 2


def test_an_alias_cycle_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="refers to the mapping or list that contains it"):
        load_plan(write_spec(tmp_path, "name: p\ndatasets: &d [beir/scifact/test, *d]\nsystems: {b: {type: bm25}}\n"))


# ------------------------------------------------------------------ measures


@pytest.mark.parametrize(
    ("measure", "needles"),
    [
        ("nDCG(rel=2)@10", ["nDCG has no parameter 'rel'", "nDCG takes cutoff, judged_only"]),
        ("AP(recall=0.1)", ["AP has no parameter 'recall'"]),
        ("SetF(beta=2)", ["SetF has no parameter 'beta'"]),
        ("nDCG@0", ["cut-off must be a whole number of at least 1"]),
        ("P@0", ["cut-off"]),
        ("RR@0", ["cut-off"]),
        ("nDCG@10.5", ["cut-off", "10.5"]),
        ("P@-5", ["cut-off"]),
        ("AP(rel=1.5)", ["rel must be a whole relevance grade"]),
    ],
)
def test_impossible_measures_fail_at_their_line(tmp_path: Path, measure: str, needles: list[str]) -> None:
    head = "name: p\ndatasets: [beir/scifact/test]\nsystems: {b: {type: bm25}}\nmeasures:\n  - RR@10\n"
    spec = write_spec(tmp_path, head + f"  - '{measure}'\n")
    _run_fails_at(tmp_path, spec, 6, *needles)


def test_eval_command_rejects_impossible_measures(tmp_path: Path) -> None:
    (tmp_path / "qrels").write_text("q1 0 d1 1\n")
    (tmp_path / "run").write_text("q1 Q0 d1 1 2.5 t\n")
    code, _, err = run_cli("eval", str(tmp_path / "qrels"), str(tmp_path / "run"), "-m", "nDCG(rel=2)@10")
    assert code == 2, err
    assert "nDCG has no parameter 'rel'" in err


def test_parameters_the_families_take_still_parse(tmp_path: Path) -> None:
    names = ["R(rel=2)@100", "AP(rel=2)", "RR(rel=2)@10", "NumRel(rel=2)", "nDCG(judged_only=True)@10", "SetP"]
    text = f"name: p\ndatasets: [beir/scifact/test]\nmeasures: {json.dumps(names)}\nsystems: {{b: {{type: bm25}}}}\n"
    assert load_plan(write_spec(tmp_path, text)).measure_names == tuple(names)


# ------------------------------------------------------------------ one name, one meaning


def test_rerank_depth_is_refused_with_a_hint_to_use_top(tmp_path: Path) -> None:
    head = "name: p\ndatasets: [beir/scifact/test]\nsystems:\n  bm25: {type: bm25, depth: 100}\n  ce:\n"
    spec = write_spec(tmp_path, head + "    - {type: use, system: bm25}\n    - {type: rerank, depth: [10, 20]}\n")
    _run_fails_at(tmp_path, spec, 7, "'depth' is not a rerank parameter", "write top: N")
    spec = write_spec(tmp_path, head + "    - {type: use, system: bm25}\n    - {type: rerank, top: [10, 20]}\n")
    assert [v.name for v in load_plan(spec).systems] == ["bm25", "ce@top=10", "ce@top=20"]
    spec = write_spec(tmp_path, "name: p\ndatasets: [beir/scifact/test]\nsystems:\n  ce: {type: rerank}\n")
    _run_fails_at(tmp_path, spec, 4, "'rerank' needs candidates from a stage before it")


# ------------------------------------------------------------------ query subsets


def test_a_subset_larger_than_the_judged_queries_warns() -> None:
    qids = ["q1", "q2", "q3"]
    for rule in (QuerySubset(sample=10), QuerySubset(first=4)):
        with pytest.warns(SubsetWarning, match="more queries than the 3 it judges; evaluating all 3"):
            assert select(qids, DatasetRef(id="x", queries=rule)) == qids
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert select(qids, DatasetRef(id="x", queries=QuerySubset(sample=3))) == qids
        assert select(qids, DatasetRef(id="x", queries=QuerySubset(first=2))) == ["q1", "q2"]


def test_the_results_record_how_many_queries_were_evaluated(tmp_path: Path) -> None:
    coll = tmp_path / "coll"
    (coll / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": "", "text": f"word{i} common"} for i in range(5)]
    (coll / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": f"q{i}", "text": f"word{i}"} for i in range(4)]
    (coll / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (coll / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(3))
    )
    spec = write_spec(
        tmp_path,
        "name: p\ndatasets: [{path: coll, name: c, queries: {sample: 50}}]\nsystems: {b: {type: bm25}}\n"
        "latency: {mode: off}\n",
    )
    with pytest.warns(SubsetWarning, match="evaluating all 3"):
        code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q", "--no-report")
    assert code == 0, err
    results = ResultSet.load(tmp_path / "out")
    assert results.datasets["c"]["queries"] == 3
    assert results.cells[0].judged == 3


# ------------------------------------------------------------------ the stage interface and layering


class _Unbuildable(Stage):
    """Fingerprints its inputs from its parameters; building it is an error."""

    Params = StageParams

    def __init__(self, params: StageParams, ctx: StageContext) -> None:
        raise AssertionError("keying a cell must not build its stages")

    @classmethod
    def input_fingerprint(cls, params: StageParams, ctx: StageContext) -> str:
        return "content-hash"

    def search(self, queries: object, previous: Run | None) -> Run:  # type: ignore[override]
        return Run({})


def test_run_keys_are_computed_without_building_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.plan import StageConfig

    STAGES.names()
    monkeypatch.setitem(STAGES._items, "test-unbuildable", _Unbuildable)
    ds = Dataset("d", "test", "memory", {"d1": Doc("d1", "", "x")}, {"q1": Query("q1", "x")}, {"q1": {"d1": 1}})
    ctx = StageContext(tmp_path, tmp_path, ds, progress=False)
    variant = SystemVariant("u", "u", (StageConfig("test-unbuildable", StageParams()),))
    key = run_key(ds, variant, ctx, [])
    assert key == run_key(ds, variant, ctx, [])
    assert key != run_key(ds, variant, ctx, ["other"])


def test_systems_import_nothing_above_them() -> None:
    code = (
        "import sys\nfrom harness.systems import STAGES\nSTAGES.names()\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('harness.plan', 'harness.runner', 'harness.cli')))\n"
        "print(bad)\nsys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_results_carry_the_settings(tmp_path: Path) -> None:
    settings = Settings(gate=GateRules(exact=["a"]), report=ReportConfig(measure="RR@10"))
    ResultSet(experiment="x", measures=["RR@10"], settings=settings).save(tmp_path)
    assert ResultSet.load(tmp_path).settings == settings


def test_the_readme_spec_example_loads(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = readme.split("## A spec", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    runs = tmp_path / "msmarco" / "trec-dl" / "runs"
    runs.mkdir(parents=True)
    (runs / "bm25-dl19.trec").write_text("", encoding="utf-8")
    spec = write_spec(tmp_path, example)
    with pytest.raises(SpecError, match=r"reads .*bm25-dl20\.trec on dataset 'dl20', which does not exist"):
        load_plan(spec, env={"HARNESS_DATA_ROOT": str(tmp_path)})
    (runs / "bm25-dl20.trec").write_text("", encoding="utf-8")
    plan = load_plan(spec, env={"HARNESS_DATA_ROOT": str(tmp_path)})
    assert "bm25-ce@top=10" in [v.name for v in plan.systems]


def test_a_replayed_run_missing_for_one_dataset_fails_at_load(tmp_path: Path) -> None:
    # Found when the spec loads, at the system's line, not after the other cells have run.
    (tmp_path / "a.trec").write_text("q1 Q0 d1 1 1.0 t\n", encoding="utf-8")
    spec = write_spec(
        tmp_path,
        "name: x\ndatasets:\n  - {topics: t.tsv, qrels: q.txt, name: a}\n  - {topics: t.tsv, qrels: q.txt, name: b}\n"
        "systems:\n  r: {type: run, path: '{dataset}.trec'}\n",
    )
    _run_fails_at(tmp_path, spec, 6, "system 'r' (run) reads", "b.trec on dataset 'b', which does not exist")
