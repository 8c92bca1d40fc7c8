"""Export a trained scale hyperprior to model packages (training/export time only: needs torch).

One package per rate point, in package format 2 (:mod:`onboard.package`): the ONNX graphs, the integer h_s
layers and the CDF tables are the same for every rate point of a model and are written once into the
``_shared/`` store beside the package folders; each package adds its ``rate.npz`` (the rate's gain vector and
the integer thresholds it implies) and its manifest. The runtime applies the gain (``onboard.encoder.analyse``,
``ground.decoder.synthesize``), so the onboard side never sees a rate index.

Steps (:func:`export_family`):

1. inference modules with GDN parameters reduced to their effective values (``gamma`` as a 1x1 conv
   weight, ``beta`` as its bias), exported to ONNX fp32 with readable initializer names, which
   :func:`torch_reference` loads back to give the torch reference encoder of ``satcomp verify``;
2. static int8 QDQ quantization of ``g_a`` and ``h_a`` (per-channel int8 weights, QUInt8 activations),
   calibrated on real crops;
3. the integer hyper-synthesis from the quantization-aware trained ``h_s`` (:func:`integer_hs_from_model`);
4. frozen CDF tables: Gaussian for ``y`` over the 64-entry scale table, the learned factorized prior of ``z``
   discretised per channel (:func:`z_tables_from_prior`);
5. ``manifest.json`` with the content hash.
"""
from __future__ import annotations

import io
import math
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from onboard.container import BITSTREAM_VERSION
from onboard.entropy import CdfTables, default_scale_table, gaussian_tables, tables_from_pmfs
from onboard.integer_hs import IntegerHyperSynthesis, IntLayer, ZHAT_MAX, ZHAT_MIN
from onboard.models.hyperprior import HyperpriorConfig, ScaleHyperprior
from onboard.models.int8 import quantize_int8
from onboard.models.layers import GDN, FakeQuantConv
from onboard.package import (
    HS_PARAMS, ONNX_FILES, Y_TABLES, Z_TABLES, load_package, post_filter_spec, write_manifest,
)

ONNX_OPSET = 17
Z_TAIL_MASS = 1e-6  # probability mass left to the escape symbol outside each z table's support
REQUANT_MULT_BITS = 24  # precision of the requantisation multipliers of the integer h_s


class InferenceGDN(nn.Module):
    """GDN/IGDN with effective parameters: ``x / sqrt(conv1x1(x^2, gamma) + beta)`` (or ``x * sqrt(...)``)."""

    def __init__(self, channels: int, inverse: bool):
        super().__init__()
        self.inverse = inverse
        self.gamma = nn.Parameter(torch.zeros(channels, channels, 1, 1))
        self.beta = nn.Parameter(torch.ones(channels))

    @classmethod
    def from_gdn(cls, gdn: GDN) -> "InferenceGDN":
        beta, gamma = gdn._params()
        m = cls(beta.shape[0], gdn.inverse)
        with torch.no_grad():
            m.gamma.copy_(gamma.view_as(m.gamma))
            m.beta.copy_(beta)
        return m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.sqrt(F.conv2d(x * x, self.gamma, self.beta))
        return x * norm if self.inverse else x / norm


class PostFilter(nn.Module):
    """Ground-side residual filter after ``g_s``: ``x + f(x)``, ``f`` four 3x3 convs (bands -> C -> C -> C ->
    bands, ReLU between) at full resolution. The last conv starts at zero, so a new filter is the identity.
    Part of the ``g_s`` graph of a package whose architecture names ``post_filter`` (its C; several blocks one
    after another when it names ``post_filter_stages``); outside the bit-exactness contract like the rest of
    ``g_s``."""

    def __init__(self, bands: int, channels: int):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(bands, channels, 3, padding=1), nn.ReLU(),
                               nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                               nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                               nn.Conv2d(channels, bands, 3, padding=1))
        nn.init.zeros_(self.f[-1].weight)
        nn.init.zeros_(self.f[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


def _inference_sequential(seq: nn.Sequential) -> nn.Sequential:
    layers = []
    for layer in seq:
        layers.append(InferenceGDN.from_gdn(layer) if isinstance(layer, GDN) else _copy_module(layer))
    return nn.Sequential(*layers)


def _copy_module(m: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(m)


class AnalysisForExport(nn.Module):
    """x in [0, 1] -> y = g_a(x) * gain; without a gain (format 2: the runtime applies it) y = g_a(x)."""

    def __init__(self, net: nn.Sequential, gain: torch.Tensor | None):
        super().__init__()
        self.net = net
        self.gain = None if gain is None else nn.Parameter(gain.detach().clone().view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return y if self.gain is None else y * self.gain


class HyperAnalysisForExport(nn.Module):
    """gained y -> z = h_a(|y| / gain); without a gain, un-gained y -> z = h_a(|y|)."""

    def __init__(self, net: nn.Sequential, gain: torch.Tensor | None):
        super().__init__()
        self.net = net
        self.inv_gain = None if gain is None else nn.Parameter((1.0 / gain.detach()).clone().view(1, -1, 1, 1))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.abs(y) if self.inv_gain is None else torch.abs(y) * self.inv_gain)


class SynthesisForExport(nn.Module):
    """quantised gained y_hat -> x_hat = g_s(y_hat / gain) (clamped to [0, 1] by the caller); without a gain
    the input is already divided by it."""

    def __init__(self, net: nn.Sequential, gain: torch.Tensor | None):
        super().__init__()
        self.net = net
        self.inv_gain = None if gain is None else nn.Parameter((1.0 / gain.detach()).clone().view(1, -1, 1, 1))

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.net(y_hat if self.inv_gain is None else y_hat * self.inv_gain)


def export_modules(model: ScaleHyperprior, rate_index: int | None) -> dict[str, nn.Module]:
    """The three float modules, ready for ONNX export: of one rate point with its gain folded in (format 1),
    or with ``rate_index=None`` the rate-independent modules of format 2."""
    g = None if rate_index is None else model.gain(rate_index).detach().view(-1)
    mods = {
        "g_a": AnalysisForExport(_inference_sequential(model.g_a.net), g),
        "h_a": HyperAnalysisForExport(_copy_module(model.h_a.net), g),
        "g_s": SynthesisForExport(_inference_sequential(model.g_s.net), g),
    }
    for m in mods.values():
        m.eval()
    return mods


def _empty_modules(config: HyperpriorConfig) -> dict[str, nn.Module]:
    """Modules shaped like :func:`export_modules` output, for loading weights back from ONNX."""
    model = ScaleHyperprior(config)
    return export_modules(model, 0)


_IO_NAMES = {"g_a": ("x", "y"), "h_a": ("y", "z"), "g_s": ("y_hat", "x_hat")}


def export_onnx(module: nn.Module, which: str, channels_in: int, path: Path) -> None:
    """Export one module with dynamic batch and spatial size, opset 17, initializer names kept."""
    inp, out = _IO_NAMES[which]
    size = {"g_a": 64, "h_a": 4, "g_s": 4}[which]
    dummy = torch.zeros(1, channels_in, size, size)
    torch.onnx.export(module, (dummy,), str(path), dynamo=False, input_names=[inp], output_names=[out],
                      dynamic_axes={inp: {0: "B", 2: "H", 3: "W"}, out: {0: "B", 2: "H2", 3: "W2"}},
                      opset_version=ONNX_OPSET, do_constant_folding=True)


FLOAT16_MIN_ELEMENTS = 4096  # smaller initializers (biases, GDN betas) stay float32


def store_weights_float16(path: Path, min_elements: int = FLOAT16_MIN_ELEMENTS) -> int:
    """Store the large float32 weights of the ONNX graph at ``path`` as float16 behind a ``Cast`` to float32
    (rewriting the file); return the number of tensors converted.

    For the ground-side ``g_s`` only: the graph still computes in float32 (ONNX Runtime folds the casts when
    the session starts), the file halves (an n_s = 128 synthesis: 6.0 -> 3.0 MB), and the weights move by at
    most 2**-11 of their size. ``g_s`` is outside the bit-exactness contract (it changes pixels, never which
    latents decode); the shipped packages measured within 0.001 dB of their float32 weights. The onboard
    graphs keep float32: ``g_a``'s int8 quantization reads them, and their bits are not the ground's."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    users = {name for n in g.node for name in n.input}
    converted, casts = [], []
    for init in list(g.initializer):
        if init.data_type != TensorProto.FLOAT or init.name not in users:
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < min_elements:
            continue
        half = numpy_helper.from_array(arr.astype(np.float16), init.name + "_f16")
        g.initializer.remove(init)
        g.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"cast_{init.name}"))
        converted.append(init.name)
    for node in reversed(casts):
        g.node.insert(0, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return len(converted)


def torch_reference(package) -> dict[str, nn.Module]:
    """The torch modules of a package, with the weights read back from its fp32 ONNX files (the torch
    reference encoder of ``satcomp verify``).

    The exporter may merge identical initializers under one name, so weights are matched by position: the
    k-th Conv/ConvTranspose node of the graph (execution order) holds the weight and bias of the k-th conv
    of the module (a GDN counts as its 1x1 conv, a post-filter's convs come after g_s's). The modules take and
    give the gained latent whatever the package format: the gain comes by name from a format-1 graph, from
    ``rate.npz`` for format 2. Raises ValueError on a mismatch.
    """
    import onnx
    from onnx import numpy_helper

    a = package.architecture
    config = HyperpriorConfig(bands=a["bands"], n=a["n"], m=a["m"], nz=a["nz"], lambdas=(1.0,),
                              n_s=a.get("n_s"), n_a=a.get("n_a"))
    mods = _empty_modules(config)
    channels, stages = post_filter_spec(a)
    for _ in range(stages):
        mods["g_s"].net.append(PostFilter(int(a["bands"]), channels))
    for which, mod in mods.items():
        proto = onnx.load(str(package.onnx_path(which, "fp32")))
        inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
        # a merged duplicate is an Identity of the kept initializer; a float16-stored weight a Cast of its own
        alias = {n.output[0]: n.input[0] for n in proto.graph.node if n.op_type in ("Identity", "Cast")}
        for n in proto.graph.node:  # a merged duplicate may also appear as a Constant
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
                inits[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        convs = [n for n in proto.graph.node if n.op_type in ("Conv", "ConvTranspose")]
        layers = [m for m in mod.net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, InferenceGDN))]
        if len(convs) != len(layers):
            raise ValueError(f"{which}: {len(convs)} conv nodes in the ONNX graph, {len(layers)} in the module")
        with torch.no_grad():
            for node, layer in zip(convs, layers):
                w, b = (layer.gamma, layer.beta) if isinstance(layer, InferenceGDN) else (layer.weight, layer.bias)
                for param, name in ((w, node.input[1]), (b, node.input[2])):
                    while name in alias and name not in inits:
                        name = alias[name]
                    if name not in inits:
                        raise ValueError(f"{which}: conv input {name!r} is not an initializer")
                    param.copy_(torch.from_numpy(np.array(inits[name], np.float32).reshape(param.shape)))
            gname = "gain" if which == "g_a" else "inv_gain"
            if package.gain is not None:
                value = package.gain if which == "g_a" else package.inverse_gain
            elif gname in inits:
                value = np.array(inits[gname], np.float32)
            else:
                raise ValueError(f"{which}: format-1 graph without a {gname!r} initializer")
            getattr(mod, gname).copy_(torch.from_numpy(np.asarray(value, np.float32)).view_as(getattr(mod, gname)))
    return mods


# --- int8 ---------------------------------------------------------------------------------------------
# --- integer hyper-synthesis -------------------------------------------------------------------------
def _shift_for(ratios: np.ndarray) -> int:
    """Largest shift that keeps the multipliers below 2**REQUANT_MULT_BITS."""
    top = float(np.max(ratios)) if ratios.size else 1.0
    shift = REQUANT_MULT_BITS - max(0, int(math.ceil(math.log2(max(top, 1e-30)))))
    return int(min(max(shift, 1), 48))


def _int_weights(layer: FakeQuantConv) -> tuple[np.ndarray, np.ndarray]:
    s_w = layer.weight_scale().double().numpy()
    w = layer.conv.weight.detach().double().numpy()
    w_int = np.clip(np.round(w / s_w.reshape(-1, 1, 1, 1)), -127, 127).astype(np.int64)
    return w_int, s_w


def integer_hs_from_model(model: ScaleHyperprior, rate_index: int, scale_table: np.ndarray
                          ) -> IntegerHyperSynthesis:
    """Integer network equal (up to requantisation rounding) to the fake-quantized ``h_s`` of the model.

    Layer l computes ``acc = conv(x_int, w_int)`` with real value ``acc * s_w * s_in``; the requantisation to the
    next uint8 activation of scale ``a_out`` multiplies by ``round(s_w * s_in / a_out * 2**shift)`` and
    shifts. The last layer's real output ``sigma_base = v * s_w3 * a_2`` times the gain is the predicted
    scale; table index = number of geometric midpoints of the scale table it reaches, i.e.
    ``v >= ceil(mid_j / (s_w3 * a_2 * gain))``.
    """
    hs = model.h_s
    layers = []
    s_in = 1.0  # z_hat is an integer: scale 1
    for fq in (hs.l1, hs.l2):
        a_out = float(fq.act_scale)
        if not a_out > 0:
            raise ValueError("h_s activation scales are not calibrated: train with quantization-aware "
                             "fine-tuning (the last qat_fraction of the steps) before exporting")
        w_int, s_w = _int_weights(fq)
        b = fq.conv.bias.detach().double().numpy()
        bias = np.round(b / (s_w * s_in)).astype(np.int64)
        ratio = s_w * s_in / a_out
        shift = _shift_for(ratio)
        mult = np.round(ratio * (1 << shift)).astype(np.int64)
        layers.append(IntLayer(w_int, bias, mult, shift))
        s_in = a_out
    w_int, s_w = _int_weights(hs.l3)
    b = hs.l3.conv.bias.detach().double().numpy()
    bias = np.round(b / (s_w * s_in)).astype(np.int64)
    layers.append(IntLayer(w_int, bias, None, 0))
    gain = model.gain(rate_index).detach().double().view(-1).numpy()
    k = s_w * s_in * gain  # real scale of one accumulator unit, per channel
    scales = np.asarray(scale_table, np.float64)
    mids = np.sqrt(scales[:-1] * scales[1:])
    thresholds = np.ceil(mids[None, :] / k[:, None]).astype(np.int64)
    return IntegerHyperSynthesis(tuple(layers), thresholds)


# --- CDF tables -------------------------------------------------------------------------------------
@torch.no_grad()
def z_tables_from_prior(model: ScaleHyperprior, tail_mass: float = Z_TAIL_MASS) -> tuple[CdfTables, dict]:
    """Per-channel tables of z: the learned CDF evaluated on every integer of [-128, 127] (the range the
    integer h_s takes), trimmed to the smallest support that leaves at most ``tail_mass`` outside; values
    outside are escape-coded. Returns the tables and a summary (supports, aux-loss quantiles)."""
    prior = model.prior
    lo, hi = ZHAT_MIN - 8, ZHAT_MAX + 8
    pmf = prior.pmf_table(lo, hi).double().numpy()  # (C, n)
    pmf = pmf / np.maximum(pmf.sum(axis=1, keepdims=True), 1e-300)
    values = np.arange(lo, hi + 1)
    pmfs, offsets = [], []
    for c in range(pmf.shape[0]):
        p = pmf[c]
        cdf = np.cumsum(p)
        a = int(np.searchsorted(cdf, tail_mass / 2))
        b = int(np.searchsorted(cdf, 1 - tail_mass / 2))
        b = min(max(b, a), p.size - 1)
        pmfs.append(p[a:b + 1])
        offsets.append(int(values[a]))
    tables = tables_from_pmfs(pmfs, offsets)
    q = prior.quantiles.detach().view(-1, 3).numpy()
    info = {"support": [[o, o + len(p) - 1] for o, p in zip(offsets, pmfs)],
            "aux_quantiles_median": [round(float(v), 4) for v in q[:, 1]]}
    return tables, info


# --- the whole package -------------------------------------------------------------------------------
SHARED_FILES = (ONNX_FILES[("g_a", "fp32")], ONNX_FILES[("g_a", "int8")], ONNX_FILES[("h_a", "fp32")],
                ONNX_FILES[("h_a", "int8")], ONNX_FILES[("g_s", "fp32")], ONNX_FILES[("h_s", "int")], HS_PARAMS,
                Y_TABLES, Z_TABLES)


def write_model_files(model: ScaleHyperprior, out: Path, calibration: list[np.ndarray], rate_index: int,
                      int8_float_convs: int, fold_rate: bool = False) -> tuple[dict, IntegerHyperSynthesis]:
    """Write every file of a package but ``manifest.json`` and ``rate.npz`` into ``out``: the ONNX graphs (fp32,
    int8 calibrated on ``calibration``), the integer h_s and the CDF tables. Returns the z-table summary and the
    integer h_s of ``rate_index``.

    By default the files are format 2's rate-independent ones (the h_s layers are every rate's; the thresholds
    go to ``rate.npz``). ``fold_rate=True`` writes format 1 instead: the gain of ``rate_index`` folded into
    g_a / h_a / g_s and its thresholds inside ``h_s.int.npz`` / ``h_s.int.onnx`` (what packages exported before
    format 2 hold; the tests write one so that reader stays tested)."""
    import onnx

    from onboard.integer_hs_onnx import build_integer_hs_model

    c = model.config
    mods = export_modules(model, rate_index if fold_rate else None)
    export_onnx(mods["g_a"], "g_a", c.bands, out / ONNX_FILES[("g_a", "fp32")])
    export_onnx(mods["h_a"], "h_a", c.m, out / ONNX_FILES[("h_a", "fp32")])
    export_onnx(mods["g_s"], "g_s", c.m, out / ONNX_FILES[("g_s", "fp32")])
    store_weights_float16(out / ONNX_FILES[("g_s", "fp32")])
    with torch.no_grad():
        ys = [mods["g_a"](torch.from_numpy(x)).numpy() for x in calibration]
    quantize_int8(out / ONNX_FILES[("g_a", "fp32")], out / ONNX_FILES[("g_a", "int8")], "x", calibration,
                  float_depth=int8_float_convs)
    quantize_int8(out / ONNX_FILES[("h_a", "fp32")], out / ONNX_FILES[("h_a", "int8")], "y", ys)
    scale_table = default_scale_table()
    hs = integer_hs_from_model(model, rate_index, scale_table)
    (out / HS_PARAMS).write_bytes(hs.to_npz_bytes(thresholds=fold_rate))
    onnx.save(build_integer_hs_model(hs, thresholds_input=not fold_rate), str(out / ONNX_FILES[("h_s", "int")]))
    (out / Y_TABLES).write_bytes(gaussian_tables(scale_table).to_bytes())
    z_tables, z_info = z_tables_from_prior(model)
    (out / Z_TABLES).write_bytes(z_tables.to_bytes())
    return z_info, hs


def export_family(model: ScaleHyperprior, rate_indexes: Iterable[int], out_root: str | Path,
                  calibration: list[np.ndarray], names: Iterable[str], training: dict | None = None,
                  cluster_bands: int | None = None, overwrite: bool = False, int8_float_convs: int = 1,
                  distortion_weights: bool = True) -> list[Path]:
    """Write one format-2 package per rate point into ``out_root/<name>`` (the shared files into
    ``out_root/_shared``), load each back verified, and return their paths.

    ``calibration``: float32 arrays (1, bands, H, W) in [0, 1], H and W multiples of 64 (the int8 activation
    ranges). ``int8_float_convs``: how many of g_a's last main convs stay float in the int8 graph
    (:func:`onboard.models.int8.float_convs`). ``distortion_weights``: measure each package's encoder hint
    for the RD quantiser (:mod:`onboard.models.distortion`; about 30 s per rate point for the shipped widths)."""
    from onboard.models.distortion import add_distortion_weights
    from onboard.package import RATE_FILE, share_files

    rate_indexes, names = list(rate_indexes), list(names)
    if len(rate_indexes) != len(names):
        raise ValueError(f"{len(rate_indexes)} rate indexes for {len(names)} names")
    out_root = Path(out_root)
    model = model.eval()
    c = model.config
    for name in names:
        if (out_root / name).exists() and not overwrite:
            raise FileExistsError(f"{out_root / name} exists (use overwrite=True)")
    scale_table = default_scale_table()
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        shared = Path(tmp)
        z_info, _ = write_model_files(model, shared, calibration, rate_indexes[0], int8_float_convs)
        for r, name in zip(rate_indexes, names):
            out = out_root / name
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            for f in SHARED_FILES:
                shutil.copyfile(shared / f, out / f)
            hs = integer_hs_from_model(model, r, scale_table)
            gain = model.gain(r).detach().view(-1).numpy().astype(np.float32)
            buf = io.BytesIO()
            np.savez_compressed(buf, gain=gain, thresholds=hs.thresholds.astype(np.int64))
            (out / RATE_FILE).write_bytes(buf.getvalue())
            manifest = {
                "name": name,
                "bitstream_version": BITSTREAM_VERSION,
                "architecture": {"type": "scale_hyperprior", "bands": c.bands, "n": c.n, "n_s": c.synthesis_width,
                                 "n_a": c.analysis_width,
                                 "m": c.m, "nz": c.nz,
                                 "cluster_bands": cluster_bands, "latent_stride": 16, "hyper_stride": 4,
                                 "g_a": "4x conv5x5/2 with GDN", "h_s": "integer, 3x conv3x3 + depth-to-space",
                                 "int8_float_convs": int(int8_float_convs)},
                "rate": {"index": r, "lambda": float(c.lambdas[r]),
                         "distortion": "lambda * 255^2 * MSE on [0, 1]-normalised bands"},
                "scale_table": [float(s) for s in scale_table],
                "z_tables": z_info,
                "training": training or {},
            }
            if getattr(c, "spectral", "none") != "none":
                manifest["architecture"]["spectral"] = c.spectral
                manifest["rate"]["distortion"] = ("lambda * 255^2 * MSE on spectral KLT components on one [0, 1] "
                                                  "scale")
            write_manifest(out, manifest)
            share_files(out, list(SHARED_FILES))
            if distortion_weights:
                add_distortion_weights(out)
            load_package(out)  # verify what was written
            paths.append(out)
    return paths


def export_package(model: ScaleHyperprior, rate_index: int, out_dir: str | Path, calibration: list[np.ndarray],
                   name: str, training: dict | None = None, cluster_bands: int | None = None,
                   overwrite: bool = False, int8_float_convs: int = 1) -> Path:
    """Write the model package of one rate point to ``out_dir`` (its shared files into ``_shared`` beside it;
    see :func:`export_family`) and return its path (loaded back and verified)."""
    out = Path(out_dir)
    return export_family(model, [rate_index], out.parent, calibration, [out.name], training=training,
                         cluster_bands=cluster_bands, overwrite=overwrite, int8_float_convs=int8_float_convs)[0]
