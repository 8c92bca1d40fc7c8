"""MAC counts against hand arithmetic; QDQ int8 attribution; liveness peak."""
from __future__ import annotations

import onnx
import pytest

from hw_profiles.onnx_cost import analyze_onnx

from .conftest import conv_encoder, quantize_qdq


def test_small_net_macs_match_hand_count(small_net_model):
    cost = analyze_onnx(small_net_model, (1, 3, 32, 32))  # the model's batch dim is dynamic ("N")
    by = {layer.name: layer for layer in cost.layers}

    # Conv 3->8, 5x5, stride 2, pad 2 on 32x32: out = floor((32 + 2*2 - 5) / 2) + 1 = 16 -> 1x8x16x16.
    # Each output element sums 3 in-channels x 5 x 5 taps = 75 MACs: 8 * 16 * 16 * 75 = 153,600.
    assert by["conv1"].output_shapes == ((1, 8, 16, 16),)
    assert by["conv1"].macs == 8 * 16 * 16 * 3 * 5 * 5 == 153_600

    # ConvTranspose 8->4, 4x4, stride 2, pad 1 on 16x16: out = (16 - 1) * 2 - 2*1 + 4 = 32 -> 1x4x32x32.
    # Every input element (8 x 16 x 16) is multiplied by 4 out-channels x 4 x 4 taps: 2048 * 64 = 131,072.
    assert by["deconv1"].output_shapes == ((1, 4, 32, 32),)
    assert by["deconv1"].macs == 8 * 16 * 16 * 4 * 4 * 4 == 131_072

    # Gemm on the flattened 4 x 32 x 32 = 4096 features -> 10: 4096 * 10 = 40,960.
    assert by["fc"].macs == 4096 * 10 == 40_960

    assert cost.total_macs == 153_600 + 131_072 + 40_960 == 325_632
    assert cost.int8_macs == 0
    assert cost.macs_per_pixel == pytest.approx(325_632 / (32 * 32))

    # Relu is elementwise: one FLOP per output element, 8 * 16 * 16 = 2048; no MACs.
    assert by["relu1"].macs == 0 and by["relu1"].flops == 2048
    assert cost.total_flops == 2048

    # parameters: w1 600 + b1 8 + w2 512 + w3 40,960 + b3 10 = 42,090 (float32: 168,360 bytes)
    assert cost.params == 600 + 8 + 512 + 40_960 + 10 == 42_090
    assert cost.param_bytes == 4 * 42_090

    # bytes of conv1: input 3*32*32*4 = 12,288, weights (600 + 8) * 4 = 2,432, output 8*16*16*4 = 8,192
    assert (by["conv1"].bytes_in, by["conv1"].bytes_weights, by["conv1"].bytes_out) == (12_288, 2_432, 8_192)
    assert by["flatten"].role == "view" and by["flatten"].bytes_moved == 0

    # liveness, live tensors at each step (bytes):
    #   conv1:   x 12,288 + c1 8,192  = 20,480
    #   relu1:   c1 8,192 + r1 8,192  = 16,384
    #   deconv1: r1 8,192 + d1 16,384 = 24,576
    #   flatten: d1 16,384 + f1 16,384 = 32,768  <- peak
    #   fc:      f1 16,384 + y 40     = 16,424
    assert cost.activation_peak_bytes == 32_768
    assert cost.output_shapes == {"y": (1, 10)}


def test_dynamic_dims_are_made_concrete_and_chain_shapes(tmp_path):
    g = conv_encoder(3, 8, 12, "g_a")
    c = analyze_onnx(g, (1, 3, 64, 48))
    # two stride-2 convs: 64x48 -> 32x24 -> 16x12
    assert c.first_output_shape == (1, 12, 16, 12)
    # conv1: 8 * 32 * 24 * (3 * 25) ; conv2: 12 * 16 * 12 * (8 * 25)
    assert c.total_macs == 8 * 32 * 24 * 75 + 12 * 16 * 12 * 200


def test_qdq_int8_model_counts_conv_macs_as_int8(tmp_path):
    fp32_path = tmp_path / "enc_fp32.onnx"
    onnx.save(conv_encoder(3, 8, 12, "enc"), fp32_path)
    int8_path = quantize_qdq(fp32_path, tmp_path / "enc_int8.onnx", (1, 3, 32, 32))

    q = onnx.load(str(int8_path))
    ops = [n.op_type for n in q.graph.node]
    assert "DequantizeLinear" in ops and "Conv" in ops
    # the convs' weights are DequantizeLinear outputs of int8 initializers
    inits = {t.name: t for t in q.graph.initializer}
    producers = {o: n for n in q.graph.node for o in n.output}
    for conv in (n for n in q.graph.node if n.op_type == "Conv"):
        dq = producers[conv.input[1]]
        assert dq.op_type == "DequantizeLinear" and dq.input[0] in inits
        assert inits[dq.input[0]].data_type == onnx.TensorProto.INT8

    f = analyze_onnx(fp32_path, (1, 3, 64, 64))
    c = analyze_onnx(int8_path, (1, 3, 64, 64))
    assert f.int8_macs == 0
    assert c.int8_macs == c.total_macs == f.total_macs > 0
    convs = [layer for layer in c.layers if layer.op_type == "Conv"]
    assert convs and all(layer.precision == "int8" for layer in convs)
    # Q/DQ are counted as elementwise FLOPs; the weight DQs are constant-folded
    dqs = [layer for layer in c.layers if layer.op_type == "DequantizeLinear"]
    assert dqs and all(layer.flops > 0 for layer in dqs)
    assert any(layer.role == "constant" for layer in dqs)
    # int8 convs move int8 weights: 4x fewer weight bytes than fp32 (biases become int32: same size)
    f_w = sum(layer.bytes_weights for layer in f.layers if layer.op_type == "Conv")
    c_w = sum(layer.bytes_weights for layer in convs)
    assert c_w < f_w / 2
    assert c.total_bytes < f.total_bytes


def test_bad_input_shape_is_rejected(small_net_model):
    with pytest.raises(ValueError, match="rank"):
        analyze_onnx(small_net_model, (3, 32, 32))
