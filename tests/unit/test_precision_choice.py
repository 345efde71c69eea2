"""Which precision a model runs at (harness.models.precision), the spec's `precision` key checked
at load, and the throughput arithmetic. No model files: the real encoders are exercised in
tests/contract/test_precision.py."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import ModelError, SpecError
from harness.models import precision as prec
from harness.models import throughput
from harness.models.aliases import MODELS
from harness.plan import load_plan
from tests.support import run_cli, write_spec

MINILM = MODELS["all-MiniLM-L6-v2"]
BGE = MODELS["bge-small-en-v1.5"]
SPLADE = MODELS["splade-tiny"]
HEAD = "name: p\ndatasets: [beir/scifact/test]\nmeasures: [nDCG@10]\nsystems:\n"


@pytest.fixture
def amx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prec, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16", "avx512_bf16"}))


@pytest.fixture
def old_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prec, "cpu_flags", lambda: frozenset({"avx2", "fma"}))


def test_defaults_per_kind_on_a_cpu_with_bf16(amx: None) -> None:
    assert prec.choose_precision(MINILM, None).effective == "bf16"
    assert prec.choose_precision(SPLADE, None).effective == "fp32"  # not measured at bf16 yet
    assert prec.choose_precision(BGE, None).effective == "int8"  # ships quantised
    assert prec.choose_precision(MINILM, "int8").effective == "int8"
    assert prec.choose_precision(MINILM, "fp32").effective == "fp32"


def test_bf16_falls_back_to_fp32_with_a_warning_where_it_would_be_emulated(old_cpu: None) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet = prec.choose_precision(MINILM, None)  # the default: no request, so no warning
        asked = prec.choose_precision(MINILM, "bf16")
    assert quiet.effective == asked.effective == "fp32"
    assert "AVX-512 BF16" in asked.note
    assert len(caught) == 1
    assert "precision bf16 for model 'all-MiniLM-L6-v2'" in str(caught[0].message)


@pytest.mark.parametrize("asked", ["fp32", "bf16"])
def test_a_model_shipped_as_int8_refuses_other_precisions(asked: str) -> None:
    with pytest.raises(ModelError, match=rf"ships only as an int8 ONNX export; precision {asked}") as exc:
        prec.choose_precision(BGE, asked)  # type: ignore[arg-type]
    assert exc.value.hint is not None
    assert "precision: int8" in exc.value.hint


def test_an_fp32_onnx_export_runs_at_fp32_only() -> None:
    export = replace(BGE, name="my-export", precision="fp32")
    assert prec.choose_precision(export, None).effective == "fp32"
    with pytest.raises(ModelError, match="is an ONNX export at fp32; precision int8 is not available"):
        prec.choose_precision(export, "int8")


def test_splade_at_int8_is_refused_with_the_alternatives() -> None:
    with pytest.raises(ModelError, match="precision int8 is not available for the SPLADE model"):
        prec.choose_precision(SPLADE, "int8")


def test_at_precision_records_what_runs_in_the_spec(amx: None) -> None:
    from harness.models.locate import ResolvedModel

    model = ResolvedModel("all-MiniLM-L6-v2", "alias", MINILM, Path("/nowhere"), "0" * 64)
    assert prec.at_precision(model, None).spec.precision == "bf16"
    assert prec.at_precision(model, "fp32") is model  # fp32 is what the table says already


def test_int8_exports_run_one_text_per_call_and_key_their_recipe(amx: None) -> None:
    from harness.models.locate import ResolvedModel
    from harness.models.onnx_export import FORMAT, RECIPE

    minilm = ResolvedModel("all-MiniLM-L6-v2", "alias", MINILM, Path("/nowhere"), "0" * 64)
    bge = ResolvedModel("bge-small-en-v1.5", "alias", BGE, Path("/nowhere"), "0" * 64)
    exported = prec.at_precision(minilm, "int8")
    assert prec.default_batch_size(exported) == 1  # per-token scales: no batch effect, fastest
    assert prec.precision_tag(exported) == f"int8:{RECIPE}:{FORMAT}"
    assert prec.default_batch_size(prec.at_precision(minilm, None)) == 32
    assert prec.precision_tag(prec.at_precision(minilm, None)) == "bf16"
    # a shipped int8 ONNX file keeps per-batch scales and its plain tag: it is not the harness's export
    assert prec.default_batch_size(bge) == 32
    assert prec.precision_tag(bge) == "int8"


@pytest.mark.parametrize(
    ("stage", "line_text"),
    [
        ("{type: dense, model: bge-small-en-v1.5, precision: fp32}", "ships only as an int8 ONNX export"),
        ("[{type: bm25}, {type: rerank, precision: bf16}]", "ships only as an int8 ONNX export"),
        ("{type: splade, precision: int8}", "not available for the SPLADE model"),
        ("{type: dense, model: all-MiniLM-L6-v2, precision: fp16}", "fp32"),
    ],
)
def test_a_precision_the_model_cannot_run_fails_at_the_stage_line(tmp_path: Path, stage: str, line_text: str) -> None:
    spec = write_spec(tmp_path, HEAD + "  bm25: {type: bm25}\n" + f"  neural: {stage}\n")
    with pytest.raises(SpecError, match=line_text) as exc:
        load_plan(spec)
    assert exc.value.line == 6
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"{spec}:6:" in err
    assert not (tmp_path / "out").exists()


def test_precision_is_swept_like_any_parameter(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, HEAD + "  mini: {type: dense, model: all-MiniLM-L6-v2, precision: [fp32, bf16, int8]}\n"
    )
    names = [v.name for v in load_plan(spec).systems]
    assert names == ["mini@precision=fp32", "mini@precision=bf16", "mini@precision=int8"]


def test_throughput_costs_arithmetic() -> None:
    c = throughput.throughput_costs(
        tokens=50_000,
        seconds=2.0,
        linear_params=10_000_000,
        precision="bf16",
        batch_size=32,
        threads=2,
        peak_gflops=1000.0,
    )
    assert c["tokens_per_s"] == 25_000
    # 2 x 1e7 FLOPs per token x 25,000 tokens/s = 5e11 FLOP/s of a 1e12 peak
    assert c["peak_fraction"] == pytest.approx(0.5)
    assert (c["precision"], c["batch_size"], c["threads"]) == ("bf16", 32, 2)
    unknown = throughput.throughput_costs(
        tokens=0, seconds=2.0, linear_params=None, precision="fp16", batch_size=1, threads=None, peak_gflops=None
    )
    assert unknown["tokens"] is None
    assert unknown["tokens_per_s"] is None
    assert "peak_fraction" not in unknown
