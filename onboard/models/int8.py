"""Static int8 quantization of the onboard graphs (g_a, h_a) with ONNX Runtime: no torch needed.

:func:`quantize_int8` turns an fp32 ONNX graph into a QDQ int8 one calibrated on real data;
:func:`float_convs` names the convolutions that stay float; :func:`calibration_crops` draws the
calibration data from images. Used by the export of a trained model
(:mod:`onboard.models.export`) and by ``satcomp requantize`` (:mod:`tools.requantize`), which rebuilds a
shipped family's int8 graphs from its fp32 ones.

Example:
    >>> from pathlib import Path                                                      # doctest: +SKIP
    >>> quantize_int8(Path("g_a.fp32.onnx"), Path("g_a.int8.onnx"), "x", crops)      # doctest: +SKIP
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np


class _ArrayReader:
    def __init__(self, name: str, arrays: list[np.ndarray]):
        self.name = name
        self.it = iter(arrays)

    def get_next(self):
        a = next(self.it, None)
        return None if a is None else {self.name: a}

    def rewind(self):  # pragma: no cover - not used by the minmax calibrator
        pass


def quantize_int8(fp32_path: Path, int8_path: Path, input_name: str, calibration: list[np.ndarray],
                  float_depth: int = 1) -> None:
    """Static QDQ int8: per-channel int8 weights, QUInt8 activations, percentile calibration (99.999 %) on
    real data.

    Activation ranges are the 99.999th percentile of the calibration values rather than their extremes (MinMax),
    so a few outliers do not widen every activation's uint8 step: hp-rgb's int8 encoder came within
    0.03-0.09 dB of fp32 on the 26 dev images at q0/q2/q4 (MinMax: 0.05-0.15 dB, +2.6 % BD-rate).

    Weights use 7 of their 8 bits (``reduce_range``). On x86 CPUs without VNNI, ONNX Runtime's u8 x s8 kernel
    (AVX2 ``vpmaddubsw``) adds pairs of products in 16 bits and saturates with full-range weights: measured on
    an AVX2-only EPYC with hp-rgb-q0's g_a on a 512 x 512 Landsat tile, the latent's rms error against fp32
    was 0.124 with full-range weights and 0.020 with reduce_range (0.018 with u8 weights, which ran 1.5x
    slower), and 2.5 % of the rounded latents differed from fp32 instead of 0.6 %. VNNI and ARM kernels do not
    saturate; there 7-bit weights are slightly coarser than 8-bit ones (not measured: no such machine here)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        keep_float = float_convs(onnx.load(str(pre)), float_depth)
        quantize_static(str(pre), str(int8_path), _ArrayReader(input_name, calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, reduce_range=True, op_types_to_quantize=["Conv"],
                        nodes_to_exclude=keep_float, calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibPercentile": 99.999})


def float_convs(model, depth: int = 1) -> list[str]:
    """Conv nodes kept in float in the int8 graph: the one that produces the graph output (``y`` of g_a,
    ``z`` of h_a; 5 % of the MACs), so the latent is never rounded to a uint8 grid coarser than the entropy
    coder's unit step; with ``depth=2`` also the main conv before it (g_a's 1/8-resolution conv, walking back
    along first inputs through the GDN).

    Depth 2 roughly halves what int8 costs (measured on the format-1 packages: cc-klt-q4's latent squared
    error against fp32 +4.4 % -> +2.2 %, hp-rgb-q2 +1.05 % -> +0.68 %) at no latency on x86 CPUs, but a float
    layer falls back to the CPU on int8 accelerators (the profiler's Kria K26 DPU figure for hp-rgb-q3 went
    from 147 to 317 ms per 512 tile), so each family chooses (``satcomp export --int8-float-convs``) and its
    manifest records the choice.

    The output conv, measured on dev images: quantizing it cost 8 % BD-rate against fp32; keeping it float
    costs nothing in rate and keeps int8 1.55x faster than fp32 (quantizing nothing else was slower than fp32:
    the GDN convs stay int8).

    On the format-2 ``cc-klt`` family (KLT components of 16-bit cubes, B=1), rebuilt with ``satcomp
    requantize`` and measured with ``satcomp rd`` on the 4 dev cubes against the same fp32 curve and anchor
    points: int8 vs fp32 BD-rate +4.71 % with depth 1 (shipped), +3.63 % with depth 2, +3.54 % with depth 1
    and the input convolution float, +2.19 % with both; g_a on a 512 x 512 one-band tile (ORT CPU, 1 thread,
    median of 15, interleaved): fp32 54.4 ms, int8 41.8 / 46.1 / 48.4 / 51.6 ms. Where the float layers cost
    most of int8's speed, fp32 is the simpler choice; the family keeps depth 1 for int8 accelerators.

    Keeping g_a's input convolution float as well was measured and rejected: on the 26 dev images hp-rgb
    q0/q2/q4 int8 lost 0.02/0.04/0.06 dB against fp32 instead of 0.03/0.06/0.09 dB, but g_a on a 512 x 512
    tile took 79.5 ms instead of 61.6 ms (fp32: 99.2 ms; ORT CPU, 1 thread): a full-resolution float
    convolution plus the quantize/dequantize around it ate most of int8's speed."""
    outputs = {o.name for o in model.graph.output}
    producers = {out: n for n in model.graph.node for out in n.output}
    keep = []
    for o in outputs:  # walk back through elementwise ops (the folded gain, GDN) to the last convs
        n = producers.get(o)
        for _ in range(depth):
            while n is not None and n.op_type != "Conv":
                n = producers.get(n.input[0])
            if n is None:
                break
            keep.append(n.name)
            n = producers.get(n.input[0])
    return keep


def calibration_crops(arrays: Iterable[np.ndarray], n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` random ``size`` x ``size`` crops (1, C, size, size) float32 in [0, 1], normalised per band by each
    image's own range as the encoder does, drawn round-robin from ``arrays`` ((H, W, C) integer images)."""
    from onboard.models.data import normalise_bands

    rng = np.random.default_rng(seed)
    imgs = [normalise_bands(a) for a in arrays if min(a.shape[:2]) >= size]
    if not imgs:
        raise ValueError(f"no calibration image of at least {size}x{size}")
    out = []
    for i in range(n):
        img = imgs[i % len(imgs)]
        y = int(rng.integers(img.shape[0] - size + 1))
        x = int(rng.integers(img.shape[1] - size + 1))
        out.append(np.ascontiguousarray(img[y:y + size, x:x + size].transpose(2, 0, 1)[None]))
    return out
