"""Tiny ONNX models built with onnx.helper for the hw_profiles tests (opset 17, IR 8: ORT accepts both)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
FIXTURES = Path(__file__).parent / "fixtures"


def _init(name: str, shape, seed: int) -> onnx.TensorProto:
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(m)
    return m


def small_net() -> onnx.ModelProto:
    """x 1x3x32x32 -> Conv 3->8 5x5 s2 p2 -> Relu -> ConvTranspose 8->4 4x4 s2 p1 -> Flatten -> Gemm 4096->10.

    The batch dim of the input is dynamic ("N") on purpose.
    """
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[5, 5], strides=[2, 2],
                         pads=[2, 2, 2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("ConvTranspose", ["r1", "w2"], ["d1"], name="deconv1", kernel_shape=[4, 4],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["d1"], ["f1"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f1", "w3", "b3"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "small_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        initializer=[_init("w1", (8, 3, 5, 5), 1), _init("b1", (8,), 2), _init("w2", (8, 4, 4, 4), 3),
                     _init("w3", (10, 4096), 4), _init("b3", (10,), 5)],
    )
    return _model(graph)


def conv_encoder(cin: int, cmid: int, cout: int, name: str) -> onnx.ModelProto:
    """Two stride-2 5x5 convs with a Relu between; fully dynamic N, H, W (like an exported g_a / h_a)."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[5, 5], strides=[2, 2],
                         pads=[2, 2, 2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["y"], name="conv2", kernel_shape=[5, 5], strides=[2, 2],
                         pads=[2, 2, 2, 2]),
    ]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", cin, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", cout, "h", "w"])],
        initializer=[_init("w1", (cmid, cin, 5, 5), 11), _init("b1", (cmid,), 12),
                     _init("w2", (cout, cmid, 5, 5), 13), _init("b2", (cout,), 14)],
    )
    return _model(graph)


def quantize_qdq(fp32_path: Path, out_path: Path, input_shape, n_batches: int = 4) -> Path:
    """Static QDQ int8 quantization (QUInt8 activations, QInt8 weights) with a small random calibration set."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self._data = iter([{"x": rng.random(input_shape, dtype=np.float32)} for _ in range(n_batches)])

        def get_next(self):
            return next(self._data, None)

    quantize_static(str(fp32_path), str(out_path), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=False)
    return out_path


@pytest.fixture
def small_net_model() -> onnx.ModelProto:
    return small_net()


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory) -> Path:
    """A model package directory: manifest.json + g_a/h_a in fp32 and QDQ int8 (g_a 3->8->12, h_a 12->8->6)."""
    d = tmp_path_factory.mktemp("pkg")
    onnx.save(conv_encoder(3, 8, 12, "g_a"), d / "g_a.fp32.onnx")
    onnx.save(conv_encoder(12, 8, 6, "h_a"), d / "h_a.fp32.onnx")
    quantize_qdq(d / "g_a.fp32.onnx", d / "g_a.int8.onnx", (1, 3, 32, 32))
    quantize_qdq(d / "h_a.fp32.onnx", d / "h_a.int8.onnx", (1, 12, 8, 8))
    (d / "manifest.json").write_text(json.dumps({"name": "tiny-test-package", "bands": 3}))
    return d
