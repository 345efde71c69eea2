"""Precision (fp32 / bf16 / int8) on the real MiniLM bi-encoder and the SciFact slice: vectors
against fp32, rankings, the cached int8 export, and the throughput costs a dense stage records.
(Precision choice without model files: tests/unit/test_precision_choice.py; nDCG on full SciFact
per precision: benchmarks/encoders.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.data.dataset import Dataset
from harness.models import onnx_export
from harness.models.encoders import load_bi_encoder
from harness.models.encoding import BiEncoder, EncodeOptions
from harness.models.locate import resolve_model
from harness.models.onnx_backend import OnnxBiEncoder
from harness.models.precision import at_precision, bf16_native
from harness.models.st_backend import STBiEncoder
from harness.systems import StageContext
from harness.systems.dense import Dense, DenseParams, embeddings_key

MINILM = "all-MiniLM-L6-v2"
N_TEXTS = 64


def encoder(precision: str) -> BiEncoder:
    resolved = at_precision(resolve_model(MINILM, kind="bi-encoder"), precision)  # type: ignore[arg-type]
    return load_bi_encoder(resolved, EncodeOptions(batch_size=16, max_length=128, precision=precision))


@pytest.fixture(scope="module")
def texts(scifact_slice: Dataset) -> list[str]:
    return [d.default_text() for d in list(scifact_slice.docs.values())[:N_TEXTS]]


@pytest.fixture(scope="module")
def fp32_rows(module_cache: None, texts: list[str]) -> Any:
    return encoder("fp32").encode_docs(texts)


def cosines(a: Any, b: Any) -> Any:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.skipif(not bf16_native(), reason="bf16 runs natively only on CPUs with AVX-512 BF16 or AMX")
def test_bf16_autocast_vectors_match_fp32(texts: list[str], fp32_rows: Any) -> None:
    enc = encoder("bf16")
    assert isinstance(enc, STBiEncoder)
    rows = enc.encode_docs(texts)
    assert rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)  # normalised in fp32
    assert cosines(rows, fp32_rows).min() >= 0.9999


def test_int8_export_runs_on_onnxruntime_close_to_fp32(texts: list[str], fp32_rows: Any) -> None:
    enc = encoder("int8")
    assert isinstance(enc, OnnxBiEncoder)  # the exported, quantised graph, not PyTorch
    assert enc.dim == 384
    rows = enc.encode_docs(texts)
    cos = cosines(rows, fp32_rows)
    # Per-channel weights, per-token activations. With one activation scale per tensor the
    # minimum was 0.992 and the mean 0.9948; per-tensor weight scales gave 0.90; a per-token
    # scale misread as per-column by onnxruntime's fusion gives 0.56.
    assert cos.min() >= 0.993
    assert cos.mean() >= 0.996


def test_int8_vectors_do_not_depend_on_the_batch(module_cache: None, texts: list[str]) -> None:
    resolved = at_precision(resolve_model(MINILM, kind="bi-encoder"), "int8")
    together = load_bi_encoder(resolved, EncodeOptions(batch_size=len(texts), max_length=128, precision="int8"))
    alone = load_bi_encoder(resolved, EncodeOptions(batch_size=1, max_length=128, precision="int8"))
    # One batch pads every text to the longest; alone, each is its own length. With one
    # activation scale per tensor the two differed (cosine ~0.99); per token, only the summation
    # order of padded rows can differ.
    np.testing.assert_allclose(together.encode_docs(texts), alone.encode_docs(texts), atol=1e-5)


def test_int8_texts_run_in_parallel_calls_with_the_same_vectors(module_cache: None, texts: list[str]) -> None:
    import threading

    resolved = at_precision(resolve_model(MINILM, kind="bi-encoder"), "int8")
    enc = load_bi_encoder(resolved, EncodeOptions(batch_size=1, threads=2, max_length=128, precision="int8"))
    assert isinstance(enc, OnnxBiEncoder)
    callers: set[int] = set()
    single = enc.single_thread

    class Spy:  # records which threads call the one-thread session
        def run(self, *args: Any) -> Any:
            callers.add(threading.get_ident())
            return single.run(*args)

    enc.single_thread = Spy()
    together = enc.encode_docs(texts)
    assert len(callers) == 2
    assert threading.get_ident() not in callers
    callers.clear()
    # One text per call goes to the session with both threads: the reference, in input order.
    alone = np.vstack([enc.encode_docs([t]) for t in texts])
    assert not callers
    np.testing.assert_array_equal(together, alone)


def test_int8_export_is_cached_by_content(monkeypatch: pytest.MonkeyPatch, module_cache: None) -> None:
    resolved = resolve_model(MINILM, kind="bi-encoder")
    first, meta = onnx_export.int8_onnx(resolved, "hidden")
    import onnx

    ops = {n.op_type for n in onnx.load_from_string(first).graph.node}
    assert "MatMulInteger" in ops
    assert "DynamicQuantizeLinear" not in ops  # the per-token rewrite ran
    # Per token, 6 layers of attention (4 h x h) and feed-forward (2 h x 4h); the pooler is per text.
    assert meta["linear_params"] == 6 * (4 * 384 * 384 + 2 * 384 * 1536)

    def no_export(*_: Any) -> int:
        raise AssertionError("the cached export should have been used")

    monkeypatch.setattr(onnx_export, "_export", no_export)
    again, _ = onnx_export.int8_onnx(resolved, "hidden")
    assert again == first


def test_tokens_counted_as_the_tokenizer_counts(texts: list[str]) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(resolve_model(MINILM).path), local_files_only=True)
    expected = sum(len(ids) for ids in tok(texts, truncation=True, max_length=128)["input_ids"])
    for precision in ("fp32", "int8"):
        enc = encoder(precision)
        before = enc.tokens
        enc.encode_docs(texts)
        assert enc.tokens - before == expected


def test_precision_keys_the_embeddings_and_the_costs(scifact_slice: Dataset, data_root: Path) -> None:
    ctx = StageContext(Path("."), data_root, scifact_slice, False)
    base = {"model": MINILM, "max_length": 64, "batch_size": 64, "depth": 10}
    keys = set()
    for precision in ("fp32", "int8"):
        params = DenseParams.model_validate({**base, "precision": precision})
        stage = Dense(params, ctx)
        stage.prepare()
        keys.add(embeddings_key(stage.resolved, params, "corpus", {}))
        c = stage.costs
        assert c["precision"] == precision
        assert c["tokens"] > 0
        assert c["tokens_per_s"] == pytest.approx(c["tokens"] / c["encode_s"])
        # ~2 x weights x tokens over the measured GEMM rate: about 0.1-1 on a quiet machine. The
        # rate is measured once, so another process holding a core then halves it and the share
        # reads up to ~2 (1.80 seen in CI beside a training job); 4 still catches a miscounted formula.
        assert 0 < c["peak_fraction"] < 4
        # an int8 export's recipe is part of the key: a new recipe never reuses the old vectors
        tag = "fp32" if precision == "fp32" else f"int8:{onnx_export.RECIPE}:{onnx_export.FORMAT}"
        assert Dense.input_fingerprint(params, ctx).endswith(f":{tag}")
    assert len(keys) == 2
