"""The all-integer ONNX graph of the integer hyper-synthesis (``onboard.integer_hs``).

Built by hand with ``onnx.helper`` (opset 21, IR 10: ORT 1.31 accepts opset <= 26 and IR <= 13). Every op is
integer: Clip/Add/Cast on int64, Pad with the zero point, ConvInteger with uint8 weights (zero point 128),
int64 Add/Max/Mul/Add/Div (the dividend is non-negative after the Max, so ONNX's truncating Div equals
the floor shift of the reference), Min, Cast to uint8, DepthToSpace (CRD), and for the last layer
GreaterOrEqual against the threshold table and ReduceSum. Tests prove it equals the numpy reference bit for bit.

Inputs: ``z_hat`` int32 (B, Nz, h, w), and with ``thresholds_input=True`` (format-2 packages, one graph for
every rate point of a family) ``thresholds`` int64 (M, n). Output: ``indexes`` int32 (B, M, 4h, 4w).
"""
from __future__ import annotations

import numpy as np

from onboard.integer_hs import ZHAT_MAX, ZHAT_MIN, IntegerHyperSynthesis

OPSET = 21
IR_VERSION = 10


def build_integer_hs_model(hs: IntegerHyperSynthesis, thresholds_input: bool = False):
    """Return an ``onnx.ModelProto`` computing ``hs.indexes``; with ``thresholds_input`` the threshold table
    is the graph's second input instead of a constant (``hs.thresholds`` then only gives its shape)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list = []
    inits: list = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    const("zmin", np.array(ZHAT_MIN, np.int64))
    const("zmax", np.array(ZHAT_MAX, np.int64))
    const("zp128_i64", np.array(128, np.int64))
    const("zp128_u8", np.array(128, np.uint8))
    const("zp0_u8", np.array(0, np.uint8))
    const("zero_i64", np.array(0, np.int64))
    const("act_max", np.array(255, np.int64))

    nodes.append(helper.make_node("Cast", ["z_hat"], ["z64"], to=TensorProto.INT64))
    nodes.append(helper.make_node("Clip", ["z64", "zmin", "zmax"], ["zc"]))
    nodes.append(helper.make_node("Add", ["zc", "zp128_i64"], ["zs"]))
    nodes.append(helper.make_node("Cast", ["zs"], ["x0"], to=TensorProto.UINT8))
    x, x_zp = "x0", "zp128_u8"
    pads = [0, 0, 1, 1, 0, 0, 1, 1]
    const("pads", np.array(pads, np.int64))
    for i, layer in enumerate(hs.layers):
        const(f"w{i}", (layer.weight + 128).astype(np.uint8))
        const(f"b{i}", layer.bias.astype(np.int64).reshape(1, -1, 1, 1))
        nodes.append(helper.make_node("Pad", [x, "pads", x_zp], [f"p{i}"], mode="constant"))
        nodes.append(helper.make_node("ConvInteger", [f"p{i}", f"w{i}", x_zp, "zp128_u8"], [f"acc{i}"],
                                      kernel_shape=[3, 3]))
        nodes.append(helper.make_node("Cast", [f"acc{i}"], [f"acc64_{i}"], to=TensorProto.INT64))
        nodes.append(helper.make_node("Add", [f"acc64_{i}", f"b{i}"], [f"v{i}"]))
        if layer.mult is None:
            last_v = f"v{i}"
            break
        const(f"m{i}", layer.mult.astype(np.int64).reshape(1, -1, 1, 1))
        const(f"r{i}", np.array((1 << (layer.shift - 1)) if layer.shift else 0, np.int64))
        const(f"d{i}", np.array(1 << layer.shift, np.int64))
        nodes.append(helper.make_node("Max", [f"v{i}", "zero_i64"], [f"relu{i}"]))
        nodes.append(helper.make_node("Mul", [f"relu{i}", f"m{i}"], [f"mm{i}"]))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"r{i}"], [f"mr{i}"]))
        nodes.append(helper.make_node("Div", [f"mr{i}", f"d{i}"], [f"sh{i}"]))
        nodes.append(helper.make_node("Min", [f"sh{i}", "act_max"], [f"cl{i}"]))
        nodes.append(helper.make_node("Cast", [f"cl{i}"], [f"q{i}"], to=TensorProto.UINT8))
        nodes.append(helper.make_node("DepthToSpace", [f"q{i}"], [f"x{i + 1}"], blocksize=2, mode="CRD"))
        x, x_zp = f"x{i + 1}", "zp0_u8"
    m, k = hs.thresholds.shape
    inputs = [helper.make_tensor_value_info("z_hat", TensorProto.INT32, ["B", hs.nz, "h", "w"])]
    if thresholds_input:
        inputs.append(helper.make_tensor_value_info("thresholds", TensorProto.INT64, [m, k]))
        const("thr_shape", np.array([1, m, 1, 1, k], np.int64))
        nodes.append(helper.make_node("Reshape", ["thresholds", "thr_shape"], ["thr"]))
    else:
        const("thr", hs.thresholds.astype(np.int64).reshape(1, m, 1, 1, k))
    const("unsq_axes", np.array([4], np.int64))
    const("sum_axes", np.array([4], np.int64))
    nodes.append(helper.make_node("Unsqueeze", [last_v, "unsq_axes"], ["v5"]))
    nodes.append(helper.make_node("GreaterOrEqual", ["v5", "thr"], ["ge"]))
    nodes.append(helper.make_node("Cast", ["ge"], ["ge64"], to=TensorProto.INT64))
    nodes.append(helper.make_node("ReduceSum", ["ge64", "sum_axes"], ["isum"], keepdims=0))
    nodes.append(helper.make_node("Cast", ["isum"], ["indexes"], to=TensorProto.INT32))
    graph = helper.make_graph(
        nodes, "integer_hyper_synthesis",
        inputs,
        [helper.make_tensor_value_info("indexes", TensorProto.INT32, ["B", m, "H", "W"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="satcomp")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model
