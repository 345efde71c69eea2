"""Hostile experiment specs: every one is refused when the spec loads, with one line naming
file:line and the fix, and `harness run` exits 2 without creating its output folder; or it is
accepted on purpose (the rules are documented where they are enforced).

Classes: names too long for the file system or equal but for case; YAML 1.1 booleans, octal
and base-60 numbers and lax type coercion; pipeline stages that would ignore the stage before
them; alias bombs, huge, deep and over-swept specs (measured in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from harness import sections
from harness.data.ref import DatasetRef, QuerySubset
from harness.errors import SpecError
from harness.fsutil import atomic_write_bytes
from harness.names import DATASET_FILE_SUFFIX, SYSTEM_FILE_SUFFIX, name_max, slug, staged, unique_slugs
from harness.plan import load_plan
from harness.plan.spec_model import ExperimentSpec
from harness.plan.yaml_limits import MAX_SPEC_BYTES
from harness.runner.cells import CellFiles
from harness.systems import STAGES
from tests.hostile import assert_run_refuses
from tests.support import REPO, run_cli, subprocess_env, write_spec

HEAD = "name: x\ndatasets: [beir/scifact/test]\nsystems:\n"


def refused(spec: Path, line: int | None, *needles: str) -> str:
    """load_plan raises one line of SpecError at spec:line containing every needle; `harness
    run` then exits 2 with that line and creates no output folder."""
    with pytest.raises(SpecError) as info:
        load_plan(spec)
    text = str(info.value)
    assert "\n" not in text, text
    assert text.startswith(f"{spec}:{line}: " if line is not None else f"{spec}: "), text
    for needle in needles:
        assert needle in text, text
    assert_run_refuses(spec, text)
    return text


# ------------------------------------------------------------------ names and the file system


def test_the_file_name_limit_is_the_file_systems_at_most_255(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert 0 < name_max(tmp_path) <= 255
    assert name_max(tmp_path / "not" / "made" / "yet") == name_max(tmp_path)
    monkeypatch.setattr("os.pathconf", lambda *_: 143)  # eCryptfs
    assert name_max(tmp_path) == 143
    monkeypatch.setattr("os.pathconf", lambda *_: 4096)
    assert name_max(tmp_path) == 255

    def fails(*_: object) -> int:
        raise OSError("no limit known")

    monkeypatch.setattr("os.pathconf", fails)
    assert name_max(tmp_path) == 255


def test_the_longest_accepted_names_make_files_the_file_system_takes(tmp_path: Path) -> None:
    limit = name_max(tmp_path)
    system = "s" * (limit - len(staged(SYSTEM_FILE_SUFFIX)))
    dataset = "d" * (limit - len(staged(DATASET_FILE_SUFFIX)))
    plan = load_plan(
        write_spec(
            tmp_path,
            f"name: x\ndatasets: [{{id: beir/scifact/test, name: {dataset}}}]\nsystems:\n  {system}: {{type: bm25}}\n",
        )
    )
    assert [v.name for v in plan.systems] == [system]
    files = CellFiles.of(dataset, system)
    # The suffixes in harness.names are the longest the runner and the report add; harness.fsutil
    # writes each file under its staged name first.
    assert len(staged(files.run.name)) == limit
    assert len(files.record.name) < len(files.run.name)
    for made in (files.run, files.record, Path("plots") / f"{slug(dataset)}-tradeoff.svg"):
        atomic_write_bytes(tmp_path / made, b"x")
        assert (tmp_path / made).read_bytes() == b"x"


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        (HEAD + "  {s}x: {{type: bm25}}\n", 4, "system 'sss"),
        (HEAD + "  b: {{type: bm25}}\n  {s}: {{type: bm25, k1: [0.9, 1.2]}}\n", 5, "sweep variant 'sss"),
        (
            "name: x\ndatasets:\n  - beir/scifact/test\n  - {{id: beir/nfcorpus/test, name: {s}}}\n"
            "systems: {{b: {{type: bm25}}}}\n",
            4,
            "dataset 'sss",
        ),
    ],
)
def test_a_name_too_long_for_a_file_name_is_refused_at_its_line(
    tmp_path: Path, body: str, line: int, needle: str
) -> None:
    s = "s" * (name_max(tmp_path) - len(staged(SYSTEM_FILE_SUFFIX)))  # the longest system name that fits
    text = refused(write_spec(tmp_path, body.format(s=s)), line, needle, "bytes a file name may have here", "shorten")
    assert len(text) < 400  # the name is quoted shortened


def test_a_spec_name_too_long_for_the_default_output_folder_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, f"name: {'n' * 300}\ndatasets: [beir/scifact/test]\nsystems: {{b: {{type: bm25}}}}\n")
    with pytest.raises(SpecError, match=r":1: the spec's name, which names its output folder, 'nnn.*300 bytes"):
        load_plan(spec)
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run_cli("run", str(spec), "-q")
    assert code == 2
    assert stderr.count("\n") == 1
    assert not (tmp_path / "reports").exists()
    # With an output folder named elsewhere, the spec's name names no folder.
    assert load_plan(spec, output=tmp_path / "out").name == "n" * 300


def test_a_smaller_file_system_limit_applies_to_the_output_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, HEAD + f"  {'s' * 140}: {{type: bm25}}\n")
    load_plan(spec)
    monkeypatch.setattr("harness.names.os.pathconf", lambda *_: 143)
    refused(spec, 4, "162 bytes ('.sss", "more than the 143", "at most 121 characters")


def test_an_output_folder_named_on_the_command_line_sets_the_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, HEAD + f"  {'s' * 140}: {{type: bm25}}\n")
    small, large = tmp_path / "small", tmp_path / "large"
    monkeypatch.setattr("harness.names.os.pathconf", lambda d, _: 143 if Path(d).name == "small" else 255)
    small.mkdir()
    load_plan(spec, output=large)
    with pytest.raises(SpecError, match="more than the 143"):
        load_plan(spec, output=small / "out")


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        (HEAD + "  BM25: {type: bm25}\n  bm25: {type: bm25, k1: 1.2}\n", 5, "systems 'BM25' and 'bm25'"),
        (HEAD + "  a.B: {type: bm25}\n  a.b.: {type: bm25, k1: 1.2}\n", 5, "systems 'a.B' and 'a.b.'"),
        (
            "name: x\ndatasets:\n  - {id: beir/scifact/test, name: SciFact}\n"
            "  - {id: beir/scifact/dev, name: scifact}\nsystems: {b: {type: bm25}}\n",
            4,
            "datasets 'SciFact' and 'scifact'",
        ),
    ],
)
def test_names_equal_but_for_case_are_refused(tmp_path: Path, body: str, line: int, needle: str) -> None:
    # Output folders move between machines; on macOS and Windows the two would be one file.
    refused(write_spec(tmp_path, body), line, needle, "one file on a case-insensitive file system")


def test_report_file_stems_differ_in_more_than_case() -> None:
    assert unique_slugs(["A", "a", "b"]) == {"A": "A", "a": "a-2", "b": "b"}


# ------------------------------------------------------------------ YAML 1.1 types


@pytest.mark.parametrize(
    ("value", "needles"),
    [
        ("k1: yes", ["'k1': Input should be a valid number (got True)", "booleans"]),
        ("b: on", ["'b'", "booleans"]),
        ("depth: true", ["'depth': Input should be a valid integer (got True)", "booleans"]),
        ("depth: 10.5", ["'depth'", "whole number"]),
        ("depth: 10.0", ["'depth'", "whole number"]),
        ("depth: 1e3", ["(got '1e3')", "write 1000 or 1.0e+3"]),
        ("k1: 1e-3", ["(got '1e-3')", "1.0e+3"]),
        ("k1: '0.9'", ["(got '0.9')", "without quotes"]),
        ("k1: .inf", ["finite number"]),
        ("k1: .nan", ["finite number"]),
        ("k1:", ["(got None)", "has no value"]),
        ("depth: 010", ["YAML 1.1 reads 010 as the octal number 8", "without a leading zero"]),
        ("depth: 1:30", ["YAML 1.1 reads 1:30 as the base-60 number 90", "without colons"]),
        ("k1: [0.9, yes]", ["'k1'", "booleans"]),
        ("lower: 1", ["'lower': Input should be a valid boolean", "true or false"]),
        ("lower: 'true'", ["'lower'", "true or false"]),
        ("stemmer: 123", ["'stemmer'", "quote it"]),
    ],
)
def test_a_stage_parameter_takes_its_own_type_only(tmp_path: Path, value: str, needles: list[str]) -> None:
    refused(write_spec(tmp_path, HEAD + f"  b:\n    type: bm25\n    {value}\n"), 6, *needles)


@pytest.mark.parametrize(
    ("section", "line", "needles"),
    [
        ("latency: {warmup: yes}", 5, ["'latency.warmup'", "booleans"]),
        ("latency: {repeats: 2.0}", 5, ["'latency.repeats'", "whole number"]),
        ("compare: {alpha: '0.05'}", 5, ["'compare.alpha'", "without quotes"]),
        ("compare: {bootstrap: {seed: -1}}", 5, ["'compare.bootstrap.seed'", "greater than or equal to 0"]),
        ("compare: {randomisation: {resamples: 1e4}}", 5, ["'compare.randomisation.resamples'", "1.0e+3"]),
        ("compare: {bootstrap: {resamples: 100000000}}", 5, ["less than or equal to 1000000"]),
        ("compare: {enabled: 0}", 5, ["'compare.enabled'", "true or false"]),
        ("gate: {max_drop: on}", 5, ["'gate.max_drop", "booleans"]),
        ("gate: {latency: {max_growth: .inf}}", 5, ["finite number"]),
        ("gate: {seed: 1.5}", 5, ["'gate.seed'", "whole number"]),
        ("report: {measure: 10}", 5, ["'report.measure'", "YAML read a number"]),
        ("description: 2024", 5, ["'description'", "quote it"]),
    ],
)
def test_a_setting_takes_its_own_type_only(tmp_path: Path, section: str, line: int, needles: list[str]) -> None:
    refused(write_spec(tmp_path, HEAD + f"  b: {{type: bm25}}\n{section}\n"), line, *needles)


@pytest.mark.parametrize(
    ("dataset", "needles"),
    [
        ("{id: beir/scifact, split: no}", ["'datasets.0.split'", "(got False)", "quote the word"]),
        ("{id: beir/scifact/test, queries: {first: 5.0}}", ["'datasets.0.queries.first'", "whole number"]),
        ("{id: beir/scifact/test, queries: {sample: 5, seed: -2}}", ["'datasets.0.queries.seed'"]),
    ],
)
def test_a_dataset_key_takes_its_own_type_only(tmp_path: Path, dataset: str, needles: list[str]) -> None:
    refused(write_spec(tmp_path, f"name: x\ndatasets:\n  - {dataset}\nsystems: {{b: {{type: bm25}}}}\n"), 3, *needles)


def test_an_octal_or_base_60_key_is_refused_too(tmp_path: Path) -> None:
    refused(write_spec(tmp_path, HEAD + "  010: {type: bm25}\n"), 4, "YAML 1.1 reads 010 as the octal number 8")
    refused(write_spec(tmp_path, HEAD + "  b: {type: bm25}\ngate: {max_drop: {1:20: 0.1}}\n"), 5, "base-60 number 80")


def test_values_accepted_on_purpose(tmp_path: Path) -> None:
    plan = load_plan(
        write_spec(
            tmp_path,
            HEAD + "  b: {type: bm25, k1: 1, lower: yes, ignore_identical_ids: on, depth: 1_000}\n"
            "latency: {mode: off}\ngate: {max_drop: 0, latency: {max_growth: 2}}\n",
        )
    )
    params = plan.systems[0].stages[0].params
    # An int where a float is taken is that number; YAML booleans are booleans where a bool is taken.
    assert params.model_dump(include={"k1", "lower", "ignore_identical_ids", "depth"}) == {
        "k1": 1.0,
        "lower": True,
        "ignore_identical_ids": True,
        "depth": 1000,
    }
    assert isinstance(params.k1, float)  # type: ignore[attr-defined]
    assert plan.settings.latency.mode == "off"  # the documented YAML-false exception
    assert plan.settings.gate.latency.max_growth == 2.0


# Every field of every stage type and settings section, whatever is added later.
def _all_sections(cls: type[BaseModel] = sections.Section) -> list[type[BaseModel]]:
    return [m for sub in cls.__subclasses__() for m in (sub, *_all_sections(sub))]


_REQUIRED: dict[str, dict[str, Any]] = {
    "DenseParams": {"model": "m"},
    "RunFileParams": {"path": "r"},
    "UseParams": {"system": "s"},
    "FuseParams": {"inputs": ["a", "b"]},
    "DatasetRef": {"id": "d"},
    "QuerySubset": {"first": 1},
    "ExperimentSpec": {"name": "x", "datasets": ["d"], "systems": {"b": {}}},
}
_MODELS = [STAGES.get(t).Params for t in STAGES.names()] + _all_sections() + [DatasetRef, QuerySubset, ExperimentSpec]
_LAX: dict[type, list[Any]] = {int: [True, 10.0, "10"], float: [True, "0.5"], bool: [1, "true"], str: [1, True]}


def _scalar_fields(model: type[BaseModel]) -> list[tuple[str, type]]:
    out = []
    for name, field in model.model_fields.items():
        kinds = [a for a in (typing.get_args(field.annotation) or (field.annotation,)) if a is not type(None)]
        if len(kinds) == 1 and kinds[0] in _LAX:
            out.append((name, kinds[0]))
    return out


@pytest.mark.parametrize("model", [m for m in _MODELS if _scalar_fields(m)], ids=lambda m: m.__name__)
def test_no_field_converts_a_value_of_another_type(model: type[BaseModel]) -> None:
    for name, kind in _scalar_fields(model):
        for value in _LAX[kind]:
            with pytest.raises(ValidationError) as info:
                model.model_validate({**_REQUIRED.get(model.__name__, {}), name: value})
            assert any(e["loc"][0] == name and e["type"].endswith("_type") for e in info.value.errors()), (name, value)
        if kind is float:  # an int is a number: only constraints may refuse it, never its type
            errors: list[Any] = []
            try:
                model.model_validate({**_REQUIRED.get(model.__name__, {}), name: 1})
            except ValidationError as exc:
                errors = exc.errors()
            assert all(e["type"] != "float_type" for e in errors), name


# ------------------------------------------------------------------ pipelines


_FIRST: dict[str, str] = {
    "bm25": "{type: bm25}",
    "dense": "{type: dense, model: minilm}",
    "splade": "{type: splade}",
    "run": "{type: run, path: r.trec}",
    "use": "{type: use, system: a}",
    "fuse": "{type: fuse, inputs: [a, c]}",
}


def test_every_stage_that_starts_a_pipeline_is_listed() -> None:
    assert sorted(_FIRST) == sorted(t for t in STAGES.names() if STAGES.get(t).first_stage)


@pytest.mark.parametrize("stype", sorted(_FIRST))
def test_a_stage_that_ignores_its_input_is_refused_after_another(tmp_path: Path, stype: str) -> None:
    body = (
        HEAD + f"  a: {{type: bm25}}\n  c: {{type: bm25, k1: 1.2}}\n  x:\n    - {{type: bm25}}\n    - {_FIRST[stype]}\n"
    )
    refused(
        write_spec(tmp_path, body),
        8,
        f"stage 2 of system 'x' ({stype}) ignores the ranking of the stage before it",
        "make it the first stage",
        "rerank",
    )


def test_a_reranker_first_is_refused_and_rerankers_after_a_first_stage_load(tmp_path: Path) -> None:
    refused(write_spec(tmp_path, HEAD + "  x:\n    - {type: rerank}\n"), 5, "'rerank' needs candidates")
    plan = load_plan(
        write_spec(
            tmp_path,
            HEAD + "  x:\n    - {type: use, system: a}\n    - {type: rerank}\n"
            "    - {type: rerank, top: 10}\n  a: {type: bm25}\n",
        )
    )
    assert [s.type for s in plan.variant("x").stages] == ["use", "rerank", "rerank"]


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        (HEAD + "  b: {type: bm25}\nmeasures: [nDCG@10 - RR@10]\n", 5, "cannot parse measure"),
        (HEAD + "  b: {type: bm25}\nreport: {measure: 'P(x=1)@5'}\n", 5, "P has no parameter"),
        (HEAD + "  b: {type: bm25s}\n", 4, "unknown system type 'bm25s'"),
    ],
)
def test_errors_of_parts_that_know_no_spec_are_spec_errors(tmp_path: Path, body: str, line: int, needle: str) -> None:
    # The measure parser and the stage registry raise their own error types; load_plan's are SpecErrors.
    refused(write_spec(tmp_path, body), line, needle)


def test_a_sweep_value_given_twice_is_refused(tmp_path: Path) -> None:
    refused(
        write_spec(tmp_path, HEAD + "  b: {type: bm25, k1: [1, 0.9, 1.0]}\n"),
        4,
        "sweep variants 'b@k1=1' and 'b@k1=1.0' are the same system",
    )


# ------------------------------------------------------------------ resource exhaustion

_MEASURE = r"""
import json, resource, sys, time, tracemalloc
from harness.errors import SpecError
from harness.plan import load_plan
from harness.cli import main
import harness.cli.run_cmd, harness.data.resolve, harness.runner  # their imports are not the spec's cost

def peak():  # bytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)

def load(spec):
    try:
        load_plan(spec)
    except SpecError as exc:
        return str(exc)
    return None

spec, out = sys.argv[1], sys.argv[2]
before, t = peak(), time.perf_counter()
error = load(spec)
load_s, t = time.perf_counter() - t, time.perf_counter()
code = main(["run", spec, "-o", out, "-q"])
run_s = time.perf_counter() - t
tracemalloc.start()  # a second load, traced: what the spec allocated at its peak
load(spec)
traced = tracemalloc.get_traced_memory()[1]
print(json.dumps({"error": error, "load_s": load_s, "run_s": run_s, "code": code,
                  "grown_mb": (peak() - before) / 2**20, "traced_mb": traced / 2**20}))
"""


def measure(spec: Path) -> dict[str, Any]:
    """Load `spec` and `harness run` it in a fresh interpreter: its error, seconds, exit code,
    growth of the process's peak memory and peak memory allocated by a load (MB)."""
    out = spec.parent / "out"
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(spec), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=subprocess_env(),
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert done.stderr == f"error: {result['error']}\n"
    assert result["code"] == 2
    assert not out.exists()
    return result


def _laughs(kind: str) -> str:
    if kind == "lists":
        levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    else:  # mappings, nine keys each, and merge keys
        levels = ["m0: &m0 {" + ", ".join(f"k{j}: lol" for j in range(9)) + "}"]
        levels += [
            f"m{i}: &m{i} {{<<: *m{i - 1}, " + ", ".join(f"k{j}: *m{i - 1}" for j in range(9)) + "}"
            for i in range(1, 10)
        ]
    return "\n".join(levels) + "\n"


@pytest.mark.parametrize("kind", ["lists", "mappings"])
def test_a_billion_laughs_is_refused_within_a_second_and_200_mb(tmp_path: Path, kind: str) -> None:
    spec = write_spec(
        tmp_path, HEAD + "  b: {type: bm25}\nx-bomb:\n" + "".join(f"  {line}\n" for line in _laughs(kind).splitlines())
    )
    result = measure(spec)
    assert result["error"] is not None
    assert "\n" not in result["error"]
    assert result["error"].startswith(f"{spec}:")
    assert "expands to more than 200,000 values through YAML aliases" in result["error"]
    assert result["load_s"] < 1, result
    assert result["run_s"] < 1, result
    assert result["grown_mb"] < 200, result
    assert result["traced_mb"] < 200, result


def test_a_long_string_repeated_by_aliases_is_refused(tmp_path: Path) -> None:
    aliases = ", ".join(["*s"] * 30_000)
    spec = write_spec(tmp_path, HEAD + f"  b: {{type: bm25, stopwords: [&s {'a' * 100_000}, {aliases}]}}\n")
    result = measure(spec)
    assert f"{spec}:4: this part of the spec expands to more than 8,388,608 characters" in result["error"]
    assert result["grown_mb"] < 200, result
    assert result["traced_mb"] < 200, result


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("name: x\nd: " + "[" * 50_000 + "]" * 50_000 + "\n", 2),
        ("name: x\nd:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 200)), 33),
        ("name: x\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 100)).replace("[*a0]", "[x]"), 33),
    ],
    ids=["flow", "block", "aliases"],
)
def test_deep_nesting_is_refused_at_its_line(tmp_path: Path, body: str, line: int) -> None:
    result = measure(write_spec(tmp_path, body))
    assert "nests mappings and lists more than 32 levels deep" in result["error"], result
    assert result["error"].startswith(f"{tmp_path / 'spec.yaml'}:{line}: "), result
    assert result["load_s"] < 5, result


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    with spec.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: 50 MB that cost nothing to write
    result = measure(spec)
    assert f"the spec file is 52,428,800 bytes, more than the {MAX_SPEC_BYTES:,}" in result["error"]
    assert result["load_s"] < 1, result
    assert result["grown_mb"] < 50, result


def test_a_sweep_of_a_million_variants_is_refused(tmp_path: Path) -> None:
    values = ", ".join(str(i) for i in range(1, 101))
    refused(
        write_spec(tmp_path, HEAD + f"  b: {{type: bm25, depth: [{values}], k1: [{values}], b: [0.1, 0.2]}}\n"),
        4,
        "sweeps into 20,000 variants (100 depth x 100 k1 x 2 b)",
        "10,000 variants",
    )
