"""Bit-exactness check of one encoder variant: what the satellite coded vs what the ground decodes.

For one image and one analysis variant (int8 ORT, fp32 ORT, or any callable such as the torch reference):

1. encode onboard, keeping each chunk's ``y_hat``, ``z_hat`` and the scale indexes the normative integer
   hyper-synthesis chose;
2. on the ground, parse the container bytes, entropy-decode ``z_hat``, recompute the indexes with the numpy
   int64 reference *and* with the all-integer ONNX graph (ONNX Runtime), entropy-decode ``y_hat``;
3. compare: indexes identical (must be 100 %), decoded latents identical, then decode the image and report
   bpp (on the whole container) and PSNR.

Example:
    >>> rep = verify_variant(img, pkg, "int8")                         # doctest: +SKIP
    >>> rep.ok, rep.index_match_fraction                              # doctest: +SKIP
    (True, 1.0)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from onboard.container import CodedScene
from onboard.encoder import DEFAULT_ACQUISITION_TIME, analyse, check_input, encode_array, tile_size, tile_slots


@dataclass
class VariantReport:
    """Result of :func:`verify_variant` for one image and one encoder variant."""

    variant: str
    n_chunks: int
    n_symbols: int
    index_match_fraction: float  # onboard indexes vs ground numpy indexes
    onnx_index_match_fraction: float  # ground numpy indexes vs the integer ONNX graph
    latents_identical: bool
    decode_ok: bool
    bits_per_sample: float
    psnr_db: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return (self.decode_ok and self.latents_identical and self.index_match_fraction == 1.0
                and self.onnx_index_match_fraction == 1.0)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def psnr_db(reference: np.ndarray, decoded: np.ndarray, peak: float) -> float:
    mse = float(np.mean((reference.astype(np.float64) - decoded.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak * peak / mse))


def peak_of(image: np.ndarray, bit_depth: int) -> float:
    return float((1 << bit_depth) - 1) if image.dtype != np.int16 else float((1 << (bit_depth - 1)) - 1)


def onnx_indexes(package, z_hat: np.ndarray) -> np.ndarray:
    """The scale indexes from the package's all-integer ONNX graph (ONNX Runtime, CPU)."""
    sess = package.session("h_s", "int", "cpu", threads=1)
    return sess.run(None, package.hs_onnx_feed(z_hat))[0]


def verify_variant(image: np.ndarray, package, variant: str, *, analysis: Callable | None = None,
                   tile: int = 256, target: str = "cpu") -> VariantReport:
    """Check one variant (``"int8"``, ``"fp32"``, or a name with its own ``analysis`` callable, which returns
    ``(y_hat, z_hat, scale indexes)`` as :func:`onboard.encoder.analyse` does)."""
    from ground.decoder import decode_latents, decode_scene
    from onboard.encoder import bit_depth_of
    from onboard.zoo import resolve

    package = resolve(package)
    arr, two_d = check_input(image, package)
    if analysis is None:
        def analysis(x):
            return analyse(package, x, target, variant, None)
    tile_h, tile_w = tile_size(tile)
    scene, kept = encode_array(arr, two_d, package, analysis, tile_h=tile_h, tile_w=tile_w, scene_id=0,
                               acquisition_time=DEFAULT_ACQUISITION_TIME, keep_latents=True)
    data = scene.to_bytes()
    received = CodedScene.from_bytes(data)
    header = received.header
    slots = tile_slots(header.height, header.width, header.tile_h, header.tile_w, package.tile_multiple)
    errors: dict[int, str] = {}
    ids = [c.index for c in received.chunks]
    decoded = decode_latents(received, package, ids, slots, {}, errors)
    n_sym = sum(k.y_hat.size for k in kept.values())
    same_idx = 0
    same_onnx = 0
    latents_ok = not errors and len(decoded) == len(kept)
    for cid, lat in kept.items():
        got = decoded.get(cid)
        if got is None:
            latents_ok = False
            continue
        same_idx += int(np.sum(got.indexes == lat.indexes))
        same_onnx += int(np.sum(onnx_indexes(package, got.z_hat[None])[0] == got.indexes))
        if not (np.array_equal(got.y_hat, lat.y_hat) and np.array_equal(got.z_hat, lat.z_hat)):
            latents_ok = False
    try:
        out = decode_scene(received, package, target=target)
        decode_ok = not out.lost_chunks
        psnr = psnr_db(image, out.image, peak_of(image, bit_depth_of(arr)))
        err = ""
    except Exception as exc:  # reported, not raised: verify lists every failure
        decode_ok, psnr, err = False, float("nan"), f"{type(exc).__name__}: {exc}"
    return VariantReport(variant=variant, n_chunks=header.n_chunks, n_symbols=n_sym,
                         index_match_fraction=same_idx / max(n_sym, 1),
                         onnx_index_match_fraction=same_onnx / max(n_sym, 1), latents_identical=latents_ok,
                         decode_ok=decode_ok, bits_per_sample=8.0 * len(data) / arr.size, psnr_db=psnr,
                         error=err or "; ".join(f"chunk {k}: {v}" for k, v in errors.items()))
