"""Property-based specs: generated valid specs load and expand deterministically; generated
mutations of them (unknown keys at any depth, wrong types, repeated keys, names that point
nowhere, stages out of place, random line edits) are refused with exactly one line naming
file:line, and `harness run` exits 2 without creating its output folder. Never a traceback."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import SpecError
from harness.names import slug
from harness.plan import Plan, dependencies, load_plan
from tests.hostile import SETTINGS, assert_run_refuses

MEASURES = ["nDCG@10", "RR@10", "R@100", "AP", "P@5"]
DATASETS: list[Any] = [
    "beir/scifact/test",
    {"id": "beir/scifact", "split": "dev", "name": "scifact-dev"},
    {"path": "data/coll", "split": "test"},
    {"topics": "t.tsv", "qrels": "q.txt", "corpus": "c.jsonl"},
    {"id": "beir/nfcorpus/test", "queries": {"sample": 5, "seed": 3}},
]
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,12}", fullmatch=True)
weights = st.floats(0.05, 3.0).map(lambda x: round(x, 2))
depths = st.integers(1, 2000)


def _sweep(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> Any:
    """One value, or a list of distinct values (a sweep)."""
    return draw(st.one_of(values, st.lists(values, min_size=1, max_size=3, unique=True)))


def _system(draw: st.DrawFn, singles: list[str]) -> Any:
    kinds = ["bm25", "cascade"] + (["use"] if singles else []) + (["fuse"] if len(singles) > 1 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "use":
        return {"type": "use", "system": draw(st.sampled_from(singles)), "depth": draw(depths)}
    if kind == "fuse":
        inputs = draw(st.lists(st.sampled_from(singles), min_size=2, max_size=3, unique=True))
        return {"type": "fuse", "inputs": inputs, "method": draw(st.sampled_from(["rrf", "combsum", "combmnz"]))}
    bm25 = {"type": "bm25", "k1": _sweep(draw, weights), "b": _sweep(draw, st.sampled_from([0.0, 0.25, 0.4, 1]))}
    if kind == "bm25":
        return bm25
    return [{**bm25, "depth": draw(depths)}, {"type": "rerank", "top": _sweep(draw, st.integers(1, 100))}]


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    bases = draw(st.lists(names, min_size=1, max_size=4, unique_by=lambda n: slug(n).lower()))
    systems: dict[str, Any] = {}
    singles: list[str] = []  # systems with one variant, which others may read by their name
    for base in bases:
        systems[base] = _system(draw, singles)
        if _variant_count(systems[base]) == 1:
            singles.append(base)
    measures = draw(st.lists(st.sampled_from(MEASURES), min_size=1, max_size=3, unique=True))
    spec: dict[str, Any] = {
        "name": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", fullmatch=True)),
        "datasets": draw(st.lists(st.sampled_from(DATASETS), min_size=1, max_size=3, unique_by=str)),
        "measures": measures,
        "systems": systems,
        "latency": {"mode": draw(st.sampled_from(["per-query", "batch", False])), "warmup": draw(st.integers(0, 9))},
        "compare": {
            "alpha": draw(st.sampled_from([0.01, 0.05, 0.1])),
            "baseline": draw(st.sampled_from(singles)) if singles else None,
        },
        "report": {"measure": draw(st.sampled_from(measures))},
    }
    return copy.deepcopy(spec)  # mutations must not reach DATASETS; safe_dump would alias shared objects


def _variant_count(system: Any) -> int:
    stages = system if isinstance(system, list) else [system]
    swept = [v for s in stages for k, v in s.items() if isinstance(v, list) and k not in ("inputs",)]
    return math.prod(len(v) for v in swept)


def _write(tmp_path: Path, spec: dict[str, Any] | str) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return p


@SETTINGS
@given(spec=valid_specs())
def test_valid_specs_load_and_expand_deterministically(tmp_path: Path, spec: dict[str, Any]) -> None:
    path = _write(tmp_path, spec)
    first, again = load_plan(path, env={}), load_plan(path, env={})
    assert [(v.name, v.config_hash()) for v in first.systems] == [(v.name, v.config_hash()) for v in again.systems]
    assert len(first.systems) == sum(_variant_count(s) for s in spec["systems"].values())
    assert len({v.name for v in first.systems}) == len(first.systems)
    _check_order(first)


def _check_order(plan: Plan) -> None:
    position = {v.name: i for i, v in enumerate(plan.ordered)}
    assert sorted(position) == sorted(v.name for v in plan.systems)
    for v in plan.ordered:
        for dep in dependencies(v):
            assert position[plan.variant(dep).name] < position[v.name]


# ------------------------------------------------------------------ mutations


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every mapping of the spec a key could be added to, at every depth."""
    out: list[dict[str, Any]] = [spec]
    stack: list[Any] = list(spec.values())
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            out.append(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return out


def _stages(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for system in spec["systems"].values() for s in (system if isinstance(system, list) else [system])]


WRONG = {
    "k1": [True, "0.9", None, {"a": 1}, ".inf"],
    "depth": [True, 10.5, "10", 0, -3],
    "top": [False, 2.0, "all"],
    "warmup": [True, 1.5, -1],
    "alpha": [True, "0.05", 1.5],
    "mode": ["fast", 3, True],
    "measure": [7, True],
    "type": [5, "nosuch", None],
}


def _wrong_type(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    holders = [(c, k) for c in _containers(spec) for k in c if k in WRONG]
    holder, key = draw(st.sampled_from(holders))
    holder[key] = draw(st.sampled_from(WRONG[key]))
    return str(key)


def _bad_reference(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    where = draw(st.sampled_from(["baseline", "use", "fuse", "measure", "exact"]))
    if where == "baseline":
        spec["compare"]["baseline"] = "nosuch"
    elif where == "measure":
        spec["report"]["measure"] = "P@7"
        return "P@7"
    elif where == "exact":
        spec["gate"] = {"exact": ["nosuch"]}
    else:
        fused = {"type": "fuse", "inputs": ["nosuch", next(iter(spec["systems"]))]}
        spec["systems"]["zz-reads-nosuch"] = {"type": "use", "system": "nosuch"} if where == "use" else fused
    return "nosuch"


def _out_of_place(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    base = draw(st.sampled_from(sorted(spec["systems"])))
    system = spec["systems"][base]
    stages = system if isinstance(system, list) else [system]
    if draw(st.booleans()):
        spec["systems"][base] = [
            *stages,
            {"type": draw(st.sampled_from(["bm25", "use", "fuse", "run"])), "system": base},
        ]
        return "ignores the ranking"
    spec["systems"][base] = [{"type": "rerank"}, *stages]
    return "needs candidates"


MUTATIONS = ["unknown key", "wrong type", "bad reference", "out of place", "repeated key"]


@st.composite
def invalid_specs(draw: st.DrawFn, how: str) -> tuple[str, str]:
    """(spec text, words the error must contain)."""
    spec = draw(valid_specs())
    if how == "unknown key":
        draw(st.sampled_from(_containers(spec)))["zz_unknown"] = 1
        needle = "zz_unknown"
    elif how == "wrong type":
        needle = _wrong_type(draw, spec)
    elif how == "bad reference":
        needle = _bad_reference(draw, spec)
    elif how == "out of place":
        needle = _out_of_place(draw, spec)
    else:
        return _repeat_a_key(draw, yaml.safe_dump(spec, sort_keys=False))
    return yaml.safe_dump(spec, sort_keys=False), needle


def _repeat_a_key(draw: st.DrawFn, text: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    keyed = [i for i, line in enumerate(lines) if re.match(r"\s*[A-Za-z_][\w.@+-]*: \S", line)]
    i = draw(st.sampled_from(keyed))
    return "".join([*lines[: i + 1], lines[i], *lines[i + 1 :]]), f"appears twice (lines {i + 1} and {i + 2})"


def _refused_in_one_line(path: Path, *needles: str) -> None:
    try:
        load_plan(path, env={})
    except SpecError as exc:
        text = str(exc)
    else:
        raise AssertionError(f"accepted:\n{path.read_text()}")
    assert "\n" not in text, text
    match = re.match(rf"{re.escape(str(path))}:(\d+): ", text)
    assert match is not None, text
    assert 1 <= int(match.group(1)) <= len(path.read_text().splitlines()), text
    for needle in needles:
        assert needle in text, text
    assert_run_refuses(path, text)


@pytest.mark.parametrize("how", MUTATIONS)
@settings(SETTINGS, max_examples=20)
@given(data=st.data())
def test_mutated_specs_are_refused_in_one_line_at_a_line(tmp_path: Path, how: str, data: st.DataObject) -> None:
    text, needle = data.draw(invalid_specs(how))
    _refused_in_one_line(_write(tmp_path, text), needle)


@SETTINGS
@given(
    spec=valid_specs(),
    edits=st.lists(
        st.tuples(st.integers(0, 200), st.sampled_from(["drop", "dup", "indent", "dedent", "colon"])),
        min_size=1,
        max_size=4,
    ),
)
def test_random_line_edits_load_or_are_refused_in_one_line(
    tmp_path: Path, spec: dict[str, Any], edits: list[tuple[int, str]]
) -> None:
    lines = yaml.safe_dump(spec, sort_keys=False).splitlines()
    for at, op in edits:
        i = at % len(lines)
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op in ("indent", "dedent"):
            lines[i] = "  " + lines[i] if op == "indent" else lines[i][2:]
        else:
            lines[i] = lines[i].replace(": ", ":: ", 1)
    path = _write(tmp_path, "\n".join(lines) + "\n")
    try:
        load_plan(path, env={})
    except SpecError as exc:
        text = str(exc)
        assert "\n" not in text, text
        assert text.startswith(f"{path}:"), text
