"""The per-token activation rewrite on a small graph, against the arithmetic written out in numpy."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.models.onnx_per_token import per_token_activations

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
K, N = 48, 40


def linear_graph(path: Path, weight: Any, bias: Any, opset: int = 17) -> None:
    """y = x @ W + b over x: [batch, tokens, K], as torch exports a linear layer."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "tokens", N])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))


@pytest.fixture(scope="module")
def quantised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(7)
    weight = rng.normal(size=(K, N)).astype(np.float32)
    bias = rng.normal(size=N).astype(np.float32)
    folder = tmp_path_factory.mktemp("per-token")
    linear_graph(folder / "fp32.onnx", weight, bias)
    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(
        str(folder / "fp32.onnx"), str(folder / "int8.onnx"), weight_type=QuantType.QInt8, per_channel=True
    )
    return onnx.load(str(folder / "int8.onnx")), weight, bias


def session(model: Any, level: Any) -> Any:
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def expected(model: Any, x: Any, bias: Any) -> Any:
    """Each token row scaled by max|row| / 127 to int8, times the int8 weights and their scales."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    w_q = inits["W_quantized"].astype(np.int64)
    w_scale = inits["W_scale"].astype(np.float64)
    # in float32, as the graph computes it, so that rounding meets the same halves
    row_max = np.maximum(np.abs(x).max(axis=-1, keepdims=True), np.float32(1e-8))
    x_q = np.round(x * (np.float32(127) / row_max)).astype(np.int64)
    return (x_q @ w_q) * w_scale * (row_max.astype(np.float64) / 127) + bias


def test_rewritten_graph_computes_per_token_scales(quantised: tuple[Any, Any, Any]) -> None:
    model, weight, bias = quantised
    rewritten = per_token_activations(onnx.load_from_string(model.SerializeToString()))
    assert not [n for n in rewritten.graph.node if n.op_type == "DynamicQuantizeLinear"]
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3, 5, K)).astype(np.float32)
    x[1, 2] *= 50  # an outlier token: per tensor it coarsens every other row, per token only its own
    want = expected(rewritten, x, bias)
    # every optimisation level, the fusions of ENABLE_ALL included
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        got = session(rewritten, level).run(["y"], {"x": x})[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    exact = x @ weight + bias
    per_tensor = session(model, ort.GraphOptimizationLevel.ORT_ENABLE_ALL).run(["y"], {"x": x})[0]
    ordinary = np.ones(x.shape[:2], dtype=bool)
    ordinary[1, 2] = False  # the rows beside the outlier, which per-tensor scales damage
    assert np.abs(want - exact)[ordinary].max() < np.abs(per_tensor - exact)[ordinary].max() / 5


def test_a_row_does_not_depend_on_the_rows_beside_it(quantised: tuple[Any, Any, Any]) -> None:
    model, _, _ = quantised
    rewritten = per_token_activations(onnx.load_from_string(model.SerializeToString()))
    sess = session(rewritten, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    x = np.random.default_rng(3).normal(size=(2, 4, K)).astype(np.float32)
    alone = sess.run(["y"], {"x": x[:1, :2]})[0]
    beside = x.copy()
    beside[1] *= 30
    np.testing.assert_array_equal(sess.run(["y"], {"x": beside})[0][:1, :2], alone)


@pytest.mark.parametrize("opset", [13, 18, 21])
def test_other_opsets_rewrite_and_run(tmp_path: Path, opset: int) -> None:
    """ReduceMax takes its axes as an attribute before opset 18 and as an input from 18 on."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(5)
    weight, bias = rng.normal(size=(K, N)).astype(np.float32), np.zeros(N, np.float32)
    linear_graph(tmp_path / "fp32.onnx", weight, bias, opset)
    quantize_dynamic(str(tmp_path / "fp32.onnx"), str(tmp_path / "int8.onnx"), weight_type=QuantType.QInt8)
    rewritten = per_token_activations(onnx.load(str(tmp_path / "int8.onnx")))
    onnx.checker.check_model(rewritten)
    reduce = next(n for n in rewritten.graph.node if n.op_type == "ReduceMax")
    assert len(reduce.input) == (2 if opset >= 18 else 1)  # axes as an input from opset 18
    x = rng.normal(size=(2, 3, K)).astype(np.float32)
    got = session(rewritten, ort.GraphOptimizationLevel.ORT_ENABLE_ALL).run(["y"], {"x": x})[0]
    np.testing.assert_allclose(got, expected(rewritten, x, bias), rtol=1e-4, atol=1e-4)


def test_one_input_quantised_once_for_several_matmuls(tmp_path: Path) -> None:
    """As query, key and value share the layer's input: one scale per row serves all three."""
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(9)
    w1, w2 = rng.normal(size=(K, N)).astype(np.float32), rng.normal(size=(K, N)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W1"], ["y1"]), helper.make_node("MatMul", ["x", "W2"], ["y2"])],
        "shared",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", K])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["batch", "tokens", N]) for y in ("y1", "y2")],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "fp32.onnx"))
    quantize_dynamic(str(tmp_path / "fp32.onnx"), str(tmp_path / "int8.onnx"), weight_type=QuantType.QInt8)
    rewritten = per_token_activations(onnx.load(str(tmp_path / "int8.onnx")))
    assert sum(n.op_type == "ReduceMax" for n in rewritten.graph.node) == 1
    x = rng.normal(size=(2, 3, K)).astype(np.float32)
    got = session(rewritten, ort.GraphOptimizationLevel.ORT_ENABLE_ALL).run(["y1", "y2"], {"x": x})
    inits = {i.name: numpy_helper.to_array(i) for i in rewritten.graph.initializer}
    row_max = np.maximum(np.abs(x).max(axis=-1, keepdims=True), np.float32(1e-8))
    x_q = np.round(x * (np.float32(127) / row_max)).astype(np.int64)
    for out, w in zip(got, ("W1", "W2"), strict=True):
        want = (x_q @ inits[f"{w}_quantized"].astype(np.int64)) * inits[f"{w}_scale"] * (row_max / 127)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_a_matmul_of_two_activations_is_refused(tmp_path: Path) -> None:
    from onnx import TensorProto, helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"])],
        "scores",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", "tokens", K]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", K, "tokens"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "tokens", "tokens"])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "fp32.onnx"))
    quantize_dynamic(
        str(tmp_path / "fp32.onnx"),
        str(tmp_path / "int8.onnx"),
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": False},
    )
    with pytest.raises(ValueError, match="both inputs"):
        per_token_activations(onnx.load(str(tmp_path / "int8.onnx")))


def test_a_graph_without_dynamic_quantisation_is_refused(tmp_path: Path) -> None:
    linear_graph(tmp_path / "fp32.onnx", np.ones((K, N), np.float32), np.zeros(N, np.float32))
    with pytest.raises(ValueError, match="no DynamicQuantizeLinear"):
        per_token_activations(onnx.load(str(tmp_path / "fp32.onnx")))
