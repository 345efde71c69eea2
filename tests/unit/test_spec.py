"""Spec loading (harness.plan): sweeps expand deterministically, env variables interpolate, names are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.plan import load_plan
from tests.support import write_spec


def test_scalar_lists_expand_into_named_variants(tmp_path: Path) -> None:
    exp = load_plan(
        write_spec(
            tmp_path,
            "name: sw\ndatasets: [beir/scifact/test]\nsystems:\n"
            "  bm25: {type: bm25, k1: [0.9, 1.2], b: [0.4, 0.75], fields: [title, text]}\n"
            "  plain: {type: bm25}\n",
        )
    )
    names = [v.name for v in exp.systems]
    assert names == [
        "bm25@k1=0.9,b=0.4",
        "bm25@k1=0.9,b=0.75",
        "bm25@k1=1.2,b=0.4",
        "bm25@k1=1.2,b=0.75",
        "plain",
    ]
    v = exp.systems[1]
    assert v.base == "bm25"
    assert v.sweep == (("k1", 0.9), ("b", 0.75))
    # `fields` is a list-typed parameter: it is a value, not a sweep.
    assert v.stages[0].params.fields == ["title", "text"]  # type: ignore[attr-defined]
    # Loading twice gives the same names and config hashes.
    again = load_plan(tmp_path / "spec.yaml")
    assert [(v.name, v.config_hash()) for v in again.systems] == [(v.name, v.config_hash()) for v in exp.systems]


def test_env_interpolation_with_default(tmp_path: Path) -> None:
    exp = load_plan(
        write_spec(
            tmp_path,
            "name: e\ndatasets: [{path: '${COLL:-/data/x}', split: '${SPLIT}'}]\nsystems:\n  b: {type: bm25}\n",
        ),
        env={"SPLIT": "dev"},
    )
    assert exp.datasets[0].path == "/data/x"
    assert exp.datasets[0].split == "dev"


def test_dataset_strings_and_subsets(tmp_path: Path) -> None:
    exp = load_plan(
        write_spec(
            tmp_path,
            "name: d\ndatasets:\n  - beir/scifact/test\n  - {id: beir/nfcorpus/test, queries: {sample: 20, seed: 3}}\n"
            "systems:\n  b: {type: bm25}\n",
        )
    )
    assert exp.datasets[0].id == "beir/scifact/test"
    assert exp.datasets[1].queries is not None
    assert exp.datasets[1].queries.sample == 20


def test_subset_needs_exactly_one_rule(tmp_path: Path) -> None:
    p = write_spec(
        tmp_path,
        "name: d\ndatasets:\n  - {id: beir/scifact/test, queries: {first: 5, sample: 5}}\n"
        "systems:\n  b: {type: bm25}\n",
    )
    with pytest.raises(SpecError, match="exactly one") as exc:
        load_plan(p)
    assert exc.value.line == 3


def test_duplicate_dataset_names_rejected(tmp_path: Path) -> None:
    p = write_spec(tmp_path, "name: d\ndatasets: [beir/scifact/test, beir/scifact/test]\nsystems:\n  b: {type: bm25}\n")
    with pytest.raises(SpecError, match="two datasets are named"):
        load_plan(p)


def test_empty_sweep_rejected(tmp_path: Path) -> None:
    p = write_spec(tmp_path, "name: d\ndatasets: [beir/scifact/test]\nsystems:\n  b: {type: bm25, k1: []}\n")
    with pytest.raises(SpecError, match="sweep 'k1' is empty"):
        load_plan(p)


def test_experiment_name_must_be_a_safe_folder_name(tmp_path: Path) -> None:
    p = write_spec(tmp_path, "name: ../escape\ndatasets: [beir/scifact/test]\nsystems:\n  b: {type: bm25}\n")
    with pytest.raises(SpecError, match="'name'"):
        load_plan(p)


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    p = write_spec(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\ndatasets: []\nsystems: {}\n")
    with pytest.raises(SpecError, match="malformed YAML"):
        load_plan(p)


@pytest.mark.parametrize(
    ("section", "body", "needle"),
    [
        ("compare", "compare: {baseline: bm25, tset: t}\n", "tset"),
        ("gate", "gate: {max_dorp: {nDCG@10: 0.01}}\n", "max_dorp"),
        ("latency", "latency: {mode: sometimes}\n", "latency"),
    ],
)
def test_compare_gate_latency_sections_are_checked_at_load(
    tmp_path: Path, section: str, body: str, needle: str
) -> None:
    p = write_spec(tmp_path, "name: d\ndatasets: [beir/scifact/test]\nsystems:\n  b: {type: bm25}\n" + body)
    with pytest.raises(SpecError, match=needle) as exc:
        load_plan(p)
    assert exc.value.line == 5
