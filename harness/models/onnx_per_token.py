"""Per-token activation scales for a dynamically quantised ONNX graph.

`onnxruntime.quantization.quantize_dynamic` quantises each MatMul's input with one scale for the
whole tensor (`DynamicQuantizeLinear`): every token of every text in the batch shares it. One
outlier token coarsens the others, and a text's vector depends on the texts batched with it.
This rewrite gives each token (each row of the input) its own symmetric scale instead:

    scale = max|x_row| / 127,  q = round(x / scale) + 128 (uint8, zero point 128)

Symmetric, so the zero point stays the scalar onnxruntime's `MatMulInteger` requires; the
int32 product is scaled by the weight's per-channel scale and then by the row's. Only standard
ONNX operators are added, and the graph's weights are untouched. uint8 with zero point 128
rather than int8 with 0: onnxruntime's int8 x int8 MatMulInteger ran the MiniLM-L-12
cross-encoder 5x slower here (254 vs 49 ms per 300-token pair).

Measured on all-MiniLM-L6-v2 over SciFact's 5,183 documents, against fp32: mean cosine 0.9952 ->
0.9976, minimum 0.990 -> 0.995, and each vector is the same whatever the batch (nDCG@10 per
precision: README "Speed"). The cost is the extra nodes (9 per quantised input, 1 per MatMul),
each a small element-wise call: ~50% more time per call than the per-tensor graph (MiniLM-L-12
cross-encoder, 300 tokens: 51 vs 35 ms; fp32 66 ms), yet 1.4x the documents/s of the fp32 ONNX
graph for MiniLM-L6 at one text per call (50.9 vs 37.1 on 519 SciFact documents). Computing
`x / scale` directly instead of `x * (127 / range)` saved nothing measurable.

The per-token scale is applied by a `Mul` of its own after the weight scale. Folded into the
scale product (`x_scale * w_scale`, as `quantize_dynamic` writes it), onnxruntime's
MatMulIntegerToFloat fusion reads the [batch, tokens, 1] scale as one per output column and the
vectors fall to cosine 0.56 of fp32; the test suite checks against fp32 to catch such a change.
"""

from __future__ import annotations

from typing import Any

PREFIX = "harness_per_token"


def _constants(numpy_helper: Any, np: Any, opset: int) -> list[Any]:
    values = {
        f"{PREFIX}_eps": np.array(1e-8, dtype=np.float32),  # an all-zero row keeps a finite scale
        f"{PREFIX}_127": np.array(127.0, dtype=np.float32),
        f"{PREFIX}_128": np.array(128.0, dtype=np.float32),
        f"{PREFIX}_zero_point": np.array(128, dtype=np.uint8),
    }
    if opset >= 18:
        values[f"{PREFIX}_last_axis"] = np.array([-1], dtype=np.int64)
    return [numpy_helper.from_array(v, name) for name, v in values.items()]


def _row_max(helper: Any, source: str, target: str, opset: int) -> Any:
    # ReduceMax took its axes as an attribute until opset 18, as an input from then on
    if opset >= 18:
        return helper.make_node("ReduceMax", [source, f"{PREFIX}_last_axis"], [target], keepdims=1)
    return helper.make_node("ReduceMax", [source], [target], axes=[-1], keepdims=1)


def _quantise_rows(node: Any, helper: Any, uint8: int, opset: int) -> list[Any]:
    """Nodes that replace one DynamicQuantizeLinear(x) -> (q, scale, zero point)."""
    x = node.input[0]
    q, scale = node.output[0], node.output[1]
    p = f"{q}_{PREFIX}"  # tensor names are unique in a graph; node names may be empty
    c = PREFIX
    return [
        helper.make_node("Abs", [x], [f"{p}_abs"]),
        _row_max(helper, f"{p}_abs", f"{p}_max", opset),
        helper.make_node("Max", [f"{p}_max", f"{c}_eps"], [f"{p}_range"]),
        helper.make_node("Div", [f"{p}_range", f"{c}_127"], [scale]),
        helper.make_node("Div", [f"{c}_127", f"{p}_range"], [f"{p}_inverse"]),
        helper.make_node("Mul", [x, f"{p}_inverse"], [f"{p}_scaled"]),
        helper.make_node("Round", [f"{p}_scaled"], [f"{p}_rounded"]),
        # |x / scale| <= 127, so the shifted value lies in [1, 255]: no clip is needed
        helper.make_node("Add", [f"{p}_rounded", f"{c}_128"], [f"{p}_shifted"]),
        helper.make_node("Cast", [f"{p}_shifted"], [q], to=uint8),
    ]


def per_token_activations(model: Any) -> Any:
    """The model (an onnx ModelProto from quantize_dynamic), rewritten in place and returned.

    Raises ValueError if the graph does not have the shape quantize_dynamic gives it (each
    activation scale feeds only `Mul(x_scale, w_scale)` nodes whose product scales a cast output).
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    dynamic = [n for n in graph.node if n.op_type == "DynamicQuantizeLinear"]
    if not dynamic:
        raise ValueError("no DynamicQuantizeLinear node: not a dynamically quantised graph")
    row_scales = {n.output[1] for n in dynamic}
    zero_points = {n.output[2] for n in dynamic}
    scale_products = {n.output[0]: n for n in graph.node if n.op_type == "Mul" and n.input[0] in row_scales}
    if any(name in row_scales for n in graph.node if n.output[0] not in scale_products for name in n.input):
        raise ValueError("an activation scale is used outside a scale product: not quantize_dynamic's graph")
    # Both sides quantised at run time (an activation x activation MatMul, MatMulConstBOnly off):
    # the right side's rows lie along the summed axis, so their scales cannot be factored out.
    quantised = {n.output[0] for n in dynamic}
    if any(n.op_type == "MatMulInteger" and n.input[1] in quantised for n in graph.node) or any(
        m.input[1] in row_scales for m in scale_products.values()
    ):
        raise ValueError("a MatMul quantises both inputs at run time; per-token scales apply to the left one only")
    nodes: list[Any] = []
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            nodes += _quantise_rows(node, helper, TensorProto.UINT8, opset)
        elif node.output[0] in scale_products:
            continue  # the product is replaced below, where it is used
        elif node.op_type == "Mul" and len(node.input) == 2 and node.input[1] in scale_products:
            row_scale, weight_scale = scale_products[node.input[1]].input
            weighted = f"{node.output[0]}_{PREFIX}_weighted"
            nodes.append(helper.make_node("Mul", [node.input[0], weight_scale], [weighted], name=weighted))
            row = f"{node.output[0]}_{PREFIX}_row"
            nodes.append(helper.make_node("Mul", [weighted, row_scale], [node.output[0]], name=row))
        else:
            nodes.append(node)
    for node in nodes:
        for i, name in enumerate(node.input):
            if name in zero_points:
                node.input[i] = f"{PREFIX}_zero_point"
    if any(name in scale_products for node in nodes for name in node.input):
        raise ValueError("a scale product is used outside a Mul with a cast product: not quantize_dynamic's graph")
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(_constants(numpy_helper, np, opset))
    return model
