"""The onboard encoder: image or cube -> :class:`~onboard.container.CodedScene` (ONNX Runtime, no torch).

Steps for a scene of shape (H, W) or (H, W, C):

1. per-band range normalisation to [0, 1] with the band's (min, max), which the header carries;
2. band groups: one group of all C bands for an image package (C must equal the package's bands), groups
   of B bands for a clustered package (the last group padded by repeating its last band, the padding never
   sent); or, with ``spectral="klt"`` (clustered packages), groups of B of the K spectral KLT components
   (:mod:`onboard.spectral`) that replace steps 1 and 2's bands, the transform sent in the header;
3. tiling (default 256 x 256); each tile padded to a multiple of 64 by edge replication that fades to the
   tile's mean (:mod:`onboard.padding`: cheap to code, never decoded);
4. ``y = g_a(x)``, ``z = h_a(y)`` with ONNX Runtime (fp32 or int8, CPU or CUDA), ``z_hat = rint(z)``;
5. the NORMATIVE integer hyper-synthesis gives the scale index of every ``y`` symbol from ``z_hat``, and
   ``y_hat`` is chosen per value by rate and distortion at those indexes (:mod:`onboard.rd_quantise`: ``rint(y)``
   or one step towards zero), or, for a package without distortion weights, ``y`` rounded with a small dead
   zone (:func:`quantise_latent`); the decoder is unaffected, it reads whatever integers were sent;
6. rANS: ``z_hat`` with the factorized tables (table = channel), ``y_hat`` with the Gaussian tables
   (table = index); one independent chunk per (tile, group):
   ``payload = uvarint(len(z_stream)) + z_stream + y_stream``.

Example:
    >>> import numpy as np, onboard
    >>> pkg = onboard.zoo.load(onboard.zoo.available()[0])            # doctest: +SKIP
    >>> img = np.zeros((300, 400, 3), np.uint8)
    >>> coded = onboard.encode_image(img, pkg)                          # doctest: +SKIP
    >>> len(coded.to_bytes()) < 4000                                    # doctest: +SKIP
    True
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from onboard.container import (
    Chunk, CodedScene, SceneHeader, band_ranges_of, datetime_to_cuc, read_uvarint, uvarint,
)
from onboard.errors import CorruptStreamError, UnsupportedInputError
from onboard.padding import fade_pad
from onboard.rd_quantise import DEFAULT_RD_WEIGHT, check_rd_weight, rd_multipliers, rd_quantise
from onboard.spectral import fit_klt

DEFAULT_TILE = 256
DEFAULT_ACQUISITION_TIME = datetime(2000, 1, 1, 12, 0, 0, tzinfo=timezone.utc)  # J2000: used when none given
SUPPORTED_DTYPES = ("uint8", "uint16", "int16")
SPECTRAL_MODES = ("auto", "none", "klt")
KLT_WATER_LEVEL_FACTOR = 0.5  # auto K: keep a KLT component whose std reaches this times the water level
KLT_CODEC_FLOOR_STD = 0.006  # ... and this fraction of the common scale (the learned codecs' error floor)
# Transfer curve of image packages on data of more than 8 significant bits (transfer_milli): each band's
# range-normalised value t is coded as t ** 0.8 and the ground raises the reconstruction to 1 / 0.8. Satellite
# DN of 12-16 bits mostly sit low in their range (bright clouds, glint and sensor headroom set the maximum), and
# the learned image codecs, trained on 8-bit display imagery, lose detail there. Chosen on the train-marked
# > 8-bit satellite scenes (true-colour composites of the Landsat 8, Sentinel-2 and CBERS-4 files; S2 L1C 18SVG
# as B07 B06 B05) by sweeping the exponent (python -m tools.transfer_sweep, docs/codec_record.md) with hp-rgb
# int8 as it was before its third decoder fine-tuning, BD-rate vs JPEG 2000 mean of 8 scenes: 1.0 / 0.8 /
# 0.7 / 0.6 / 0.5 gave +2.51 / +0.76 / +2.24 / +6.27 / +12.04 %; on the 5 dev-eval ones +15.52 / +11.04 /
# +11.89 / +16.54 / +23.70 % (Sentinel-2 L2A 29RKH +64.5 -> +53.3 %, Landsat 8 crop +13.7 -> +1.7 %; the two
# 10-bit CBERS scenes lose 1 and 6 points: transfer="linear" per call).
HIGH_BIT_DEPTH_EXPONENT = 0.8
DEFAULT_DEADZONE = 0.05  # latent rounding dead zone (quantise_latent), chosen on the development data


# --- payload framing ------------------------------------------------------------------------------
def pack_payload(z_stream: bytes, y_stream: bytes) -> bytes:
    return uvarint(len(z_stream)) + z_stream + y_stream


def split_payload(payload: bytes) -> tuple[bytes, bytes]:
    n, pos = read_uvarint(payload)
    if pos + n > len(payload):
        raise CorruptStreamError(f"z stream of {n} octets overruns the {len(payload)}-octet payload")
    return payload[pos:pos + n], payload[pos + n:]


# --- geometry -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TileSlot:
    """Where a tile sits in the scene and the padded size the network codes."""

    row: int
    col: int
    y0: int
    x0: int
    h: int
    w: int
    pad_h: int
    pad_w: int


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def tile_slots(height: int, width: int, tile_h: int, tile_w: int, multiple: int) -> list[TileSlot]:
    """Row-major tiles; edge tiles keep their real size, padded up to a multiple of ``multiple``."""
    slots = []
    for r, y0 in enumerate(range(0, height, tile_h)):
        for c, x0 in enumerate(range(0, width, tile_w)):
            h = min(tile_h, height - y0)
            w = min(tile_w, width - x0)
            slots.append(TileSlot(r, c, y0, x0, h, w, _round_up(h, multiple), _round_up(w, multiple)))
    return slots


def band_groups(bands: int, package, order=None) -> list[np.ndarray]:
    """Band indexes fed to the network per pass: all bands (image package) or clusters of B consecutive
    positions of ``order`` (default: the bands in their order), the last cluster padded by repeating its last
    band (the padding is never sent back: the decoder drops it)."""
    b = package.cluster_bands
    if b is None:
        return [np.arange(bands)]
    order = np.arange(bands) if order is None else np.asarray(order, dtype=np.int64)
    groups = []
    for start in range(0, bands, b):
        idx = order[start:min(start + b, bands)]
        if idx.size < b:
            idx = np.concatenate([idx, np.full(b - idx.size, idx[-1])])
        groups.append(idx)
    return groups


def correlation_order(arr: np.ndarray, max_pixels: int = 20000, seed: int = 0) -> tuple[int, ...]:
    """A band order in which consecutive bands are strongly correlated, so that clusters of consecutive
    positions hold similar bands: greedy nearest-neighbour chain on ``1 - |corr|`` from band 0 over a
    deterministic pixel subsample. Pure computation; the order is sent in the header."""
    h, w, c = arr.shape
    flat = arr.reshape(-1, c)
    if flat.shape[0] > max_pixels:
        idx = np.random.default_rng(seed).choice(flat.shape[0], max_pixels, replace=False)
        flat = flat[np.sort(idx)]
    x = flat.astype(np.float64)
    x -= x.mean(axis=0)
    sd = np.sqrt((x * x).mean(axis=0))
    sd[sd == 0] = 1.0
    corr = np.abs((x.T @ x) / x.shape[0] / np.outer(sd, sd))
    order = [0]
    left = set(range(1, c))
    while left:
        last = order[-1]
        nxt = max(left, key=lambda j: (corr[last, j], -j))
        order.append(nxt)
        left.remove(nxt)
    return tuple(order)


# --- input checks ---------------------------------------------------------------------------------
def check_input(image, package) -> tuple[np.ndarray, bool]:
    """Validate an input array for ``package``; return it as (H, W, C) and whether it was 2-D."""
    if not isinstance(image, np.ndarray):
        raise UnsupportedInputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype.name not in SUPPORTED_DTYPES:
        raise UnsupportedInputError(f"dtype {image.dtype} not supported: use one of {SUPPORTED_DTYPES}")
    if image.ndim not in (2, 3):
        raise UnsupportedInputError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    two_d = image.ndim == 2
    arr = image[:, :, None] if two_d else image
    h, w, c = arr.shape
    if h < 1 or w < 1 or c < 1:
        raise UnsupportedInputError(f"image has an empty dimension: shape {image.shape}")
    if h > 0xFFFFFFFF or w > 0xFFFFFFFF or c > 0xFFFF:
        raise UnsupportedInputError(f"image too large for the container: shape {image.shape}")
    if package.cluster_bands is None and c != package.bands:
        raise UnsupportedInputError(
            f"package {package.name} is an image package trained for {package.bands} band(s); the input has "
            f"{c} band(s) (shape {image.shape}). A clustered package (cc-*, any band count) takes single-band "
            f"(panchromatic) images and multi/hyperspectral cubes.")
    return arr, two_d


def normalise(arr: np.ndarray, ranges, exponent: float = 1.0) -> np.ndarray:
    """(H, W, C) integers -> float32 in [0, 1] with per-band (lo, hi), raised to ``exponent`` (the transfer
    curve, :func:`transfer_milli`; 1.0 is linear).

    >>> normalise(np.array([[[0], [64], [256]]], np.uint16), [(0, 256)], 0.5).ravel().tolist()
    [0.0, 0.5, 1.0]
    """
    lo = np.array([r[0] for r in ranges], np.float32)
    hi = np.array([r[1] for r in ranges], np.float32)
    t = (arr.astype(np.float32) - lo) / np.maximum(hi - lo, 1.0)
    if exponent != 1.0:
        t = np.power(t.astype(np.float64), exponent).astype(np.float32)
    return t


def denormalise(x: np.ndarray, ranges, dtype: str, exponent: float = 1.0) -> np.ndarray:
    """float (H, W, C) in [0, 1] -> integers of ``dtype`` inside each band's (lo, hi); the inverse of
    :func:`normalise` with the same ``exponent``.

    >>> denormalise(np.array([[[0.0], [0.5], [1.0]]]), [(0, 256)], "uint16", 0.5).ravel().tolist()
    [0, 64, 256]
    """
    lo = np.array([r[0] for r in ranges], np.float64)
    hi = np.array([r[1] for r in ranges], np.float64)
    t = np.clip(x, 0.0, 1.0).astype(np.float64)
    if exponent != 1.0:
        t = np.power(t, 1.0 / exponent)
    v = np.rint(t * np.maximum(hi - lo, 1.0) + lo)
    return np.clip(v, lo, hi).astype(dtype)


def check_transfer(transfer: str | float) -> str | float:
    """``"auto"``, ``"linear"`` or an exponent in (0, 65.535] (text is parsed, as from a command line), else a
    ValueError that says so.

    >>> check_transfer("0.7"), check_transfer("auto")
    (0.7, 'auto')
    """
    if transfer in ("auto", "linear"):
        return transfer
    try:
        value = float(transfer)
    except (TypeError, ValueError):
        raise ValueError(f"transfer must be 'auto', 'linear' or an exponent, got {transfer!r}") from None
    if not (math.isfinite(value) and 1 <= round(value * 1000) <= 0xFFFF):
        raise ValueError(f"transfer exponent must be in (0, 65.535], got {transfer}")
    return value


def image_transfer_exponent(transfer: str | float, bit_depth: int) -> float:
    """The exponent an image package codes data of ``bit_depth`` significant bits with: ``"auto"`` gives
    :data:`HIGH_BIT_DEPTH_EXPONENT` above 8 bits and 1.0 (linear) otherwise, ``"linear"`` 1.0, an exponent
    itself. The one rule flight (:func:`transfer_milli`) and training crops
    (:class:`onboard.models.data.CropSampler`) share.

    >>> image_transfer_exponent("auto", 14), image_transfer_exponent("auto", 8), image_transfer_exponent(0.5, 8)
    (0.8, 1.0, 0.5)
    """
    transfer = check_transfer(transfer)
    if transfer == "linear":
        return 1.0
    if transfer == "auto":
        return HIGH_BIT_DEPTH_EXPONENT if bit_depth > 8 else 1.0
    return transfer


def transfer_milli(package, transfer, bit_depth: int, spectral: str) -> int | None:
    """The transfer exponent in thousandths the header will carry, or None for linear coding.

    ``transfer``: ``"auto"`` (:data:`HIGH_BIT_DEPTH_EXPONENT` for an image package on data of more than 8
    significant bits, else linear), ``"linear"``, or an exponent in (0, 65.535] (below 1 the dark values get
    more of the code range). ``spectral``: the resolved mode (a KLT scene has no band ranges to compand).

    >>> transfer_milli(None, "auto", 8, "none") is None  # package unused for 8-bit data
    True
    >>> transfer_milli(None, 0.7, 8, "none")
    700
    >>> transfer_milli(None, "linear", 16, "none") is None
    True
    """
    transfer = check_transfer(transfer)
    if transfer == "auto" and (spectral == "klt" or bit_depth <= 8 or package.cluster_bands is not None):
        return None  # (the package is only looked at for > 8-bit data)
    if spectral == "klt" and transfer not in ("auto", "linear"):
        raise UnsupportedInputError("a transfer exponent applies to band ranges; a spectral KLT scene has none "
                                    "(use transfer='auto' or 'linear')")
    milli = round(image_transfer_exponent(transfer, bit_depth) * 1000)
    return None if milli == 1000 else milli


def bit_depth_of(arr: np.ndarray) -> int:
    """Significant bits: of the largest magnitude for unsigned data, including the sign for int16."""
    if arr.dtype == np.int16:
        m = max(int(arr.max()), -int(arr.min()) - 1, 1)
        return min(16, m.bit_length() + 1)
    return max(1, int(arr.max()).bit_length())


def spectral_mode(package, spectral: str) -> str:
    """Resolve ``spectral`` (``"auto"``: the package's own mode) to ``"none"`` or ``"klt"``; a typed error for
    a KLT asked of an image package."""
    if spectral not in SPECTRAL_MODES:
        raise ValueError(f"spectral must be one of {SPECTRAL_MODES}, got {spectral!r}")
    if spectral == "auto":
        return getattr(package, "spectral", "none")
    if spectral == "klt" and package.cluster_bands is None:
        raise UnsupportedInputError(f"package {package.name} is an image package: a spectral KLT needs a "
                                    f"clustered package")
    return spectral


def klt_error_price(package) -> float | None:
    """The package's exchange rate between bits and squared error on [0, 1] planes (``lambda * 255**2``, the
    weight of the MSE in its training loss ``R + lambda * 255**2 * MSE`` with R in bits per sample); the KLT
    basis steps are chosen against it (:func:`onboard.spectral.choose_basis_steps`). None without a lambda."""
    lam = package.lmbda if hasattr(package, "manifest") else None
    if not lam or lam <= 0:
        return None
    return float(lam) * 255.0 ** 2


def klt_min_std(package, factor: float = KLT_WATER_LEVEL_FACTOR, floor: float = KLT_CODEC_FLOOR_STD) -> float:
    """Fraction of the common scale below which a KLT component is not worth coding with ``package``.

    Reverse water-filling: the package minimises ``R + lambda * 255**2 * MSE`` on [0, 1] planes, and a Gaussian
    component of variance s**2 coded at that slope gets distortion ``theta = 1 / (2 ln 2 * lambda * 255**2)``
    if ``s**2 > theta`` and no bits otherwise; so a component is kept when its standard deviation reaches
    ``factor * sqrt(theta)`` (:data:`KLT_WATER_LEVEL_FACTOR`), and never below ``floor``
    (:data:`KLT_CODEC_FLOOR_STD`): the learned codecs do not reproduce a plane much weaker than their own error
    (37-40 dB on the leading component at the highest rate, an RMS error of 0.01-0.014 of the scale) more
    faithfully than dropping it would, and each kept component also pays its chunk's hyperprior and stream ends.

    Both constants were chosen by ``python -m tools.klt_sweep --package cc-klt --against-first`` (int8, the
    shipped qm2..q7, each setting's learned curve against 0.7 : 0.015's, mean per cube) on the train-marked
    cubes reno, samson, ABU airport 1 and 3, beach 1, urban 1 and 4, San Diego and CASI (factor : floor):
    0.7 : 0.01 -0.09 %, 0.7 : 0.008 -1.36 %, 0.7 : 0.006 -1.75 %, **0.5 : 0.006 -3.23 %**, 0.35 : 0.006
    -3.34 %, 0.5 : 0.004 -3.41 %, 0.35 : 0.004 -3.22 %, 0.25 : 0.004 +0.13 %, 1.0 : 0.006 +2.34 % (0.5 : 0.006
    keeps fewer components than the two within 0.2 points of it). Before (at 0437889) the same cubes chose
    0.7 : 0.015 by BD-rate against KLT + JPEG 2000 (0.35 : 0.006 +30.2 %, 0.7 : 0.015 +23.9 %): a floor that
    stops the top rate points at fewer components ends their curve lower, where the compared interval is
    kinder to the learned codec, though its points cost more rate for their quality (Beach 1 at q4: 42.98 dB
    at 0.0040 bpppb with 2 components, 44.14 dB at 0.0039 with 3; at q7 43.20 dB at 0.0090 with 2). The
    figures on the development cubes are in docs/codec_record.md."""
    price = klt_error_price(package)
    if price is None:
        return floor
    return max(floor, factor / math.sqrt(2.0 * math.log(2.0) * price))


# --- encoding -------------------------------------------------------------------------------------
def _tile_batch(norm: np.ndarray, slot: TileSlot, groups: list[np.ndarray]) -> np.ndarray:
    """(n_groups, B, pad_h, pad_w) float32 for one tile, padded by :func:`onboard.padding.fade_pad`."""
    tile = fade_pad(norm[slot.y0:slot.y0 + slot.h, slot.x0:slot.x0 + slot.w], slot.pad_h, slot.pad_w)
    return np.stack([tile[:, :, g].transpose(2, 0, 1) for g in groups]).astype(np.float32, copy=False)


def check_deadzone(deadzone: float) -> float:
    """``deadzone`` as a float if it lies in [0, 0.5), else a ValueError that says so."""
    if not 0.0 <= float(deadzone) < 0.5:
        raise ValueError(f"deadzone must be in [0, 0.5), got {deadzone}")
    return float(deadzone)


def quantise_latent(y: np.ndarray, deadzone: float = DEFAULT_DEADZONE) -> np.ndarray:
    """Round the gained latent to int32 with a dead zone: ``sign(y) * floor(|y| + 0.5 - deadzone)``.

    ``deadzone=0`` is ``rint`` (half to even). A value within ``deadzone`` above a half-integer in magnitude goes
    to the integer nearer zero, which costs the entropy coder fewer bits; the models were trained with plain
    rounding, so the zone must stay small. Sweep on the development data (int8; the learned points re-encoded at
    each dead zone against the anchor points of one ``satcomp rd`` run with plain rounding; mean of per-input
    BD-rate): dead zones of 0 / 0.03 / 0.05 / 0.07 / 0.1 gave -4.94 / -6.20 / -6.30 / -5.93 / -4.73 % for hp-rgb
    on the 26 RGB dev images against JPEG 2000, and +31.44 / +29.91 / +29.42 / +29.42 / +30.01 % for cc-klt on
    the 4 dev cubes against KLT + JPEG 2000 (0.15 / 0.2: +33.0 / +37.6 %). ``satcomp rd`` with the default
    0.05 (``--deadzone 0`` for plain rounding): hp-rgb -6.41 % on the averaged curves (-5.11 % plain), cc-klt
    +28.73 % (+31.24 % plain). The rate-distortion choice per value (:mod:`onboard.rd_quantise`) has replaced
    it for packages with distortion weights (``satcomp rd``: hp-rgb -8.17 %, cc-klt +24.31 % at its default
    weight 2.5, -8.78 % and +23.90 % with the fine-tuned ground decoders); this rounding remains for packages
    without them and for ``rd_weight=0``.

    >>> quantise_latent(np.array([0.54, 0.56, -1.52, -1.56, 2.5, 3.5]), 0.05).tolist()
    [0, 1, -1, -2, 2, 3]
    >>> quantise_latent(np.array([0.5, 1.5, -2.5]), 0.0).tolist()
    [0, 2, -2]
    >>> quantise_latent(np.array([0.5, 2.5]), 1e-30).tolist()  # ties as rint, never away from zero
    [0, 2]
    """
    plain = np.rint(y)
    if check_deadzone(deadzone) == 0.0:
        return plain.astype(np.int32)
    # a dead zone below the float resolution of |y| + 0.5 would round a tie away from zero where rint rounds it
    # to even: never go past rint, so the result is always rint(y) or one step nearer zero
    magnitude = np.minimum(np.floor(np.abs(y) + (0.5 - deadzone)), np.abs(plain))
    return (np.sign(y) * magnitude).astype(np.int32)


def quantise_gained(package, y: np.ndarray, z_hat: np.ndarray, deadzone: float = DEFAULT_DEADZONE,
                    rd_weight: float = DEFAULT_RD_WEIGHT, indexes: np.ndarray | None = None) -> np.ndarray:
    """The integers to send for the gained latent ``y`` (B, M, h, w) float32, given the hyper-latent ``z_hat``:
    the RD choice of :mod:`onboard.rd_quantise` when ``rd_weight > 0`` and the package has distortion weights
    (the scale indexes from the normative integer h_s on ``z_hat``, or ``indexes`` if given), else
    :func:`quantise_latent` with ``deadzone``."""
    mu = rd_multipliers(package, rd_weight) if rd_weight > 0 else None
    if mu is None:
        return quantise_latent(y, deadzone)
    if indexes is None:
        indexes = package.hyper_synthesis.indexes(z_hat)
    return rd_quantise(y, indexes, package.y_tables, mu)


def analyse(package, x: np.ndarray, target: str, precision: str, threads: int | None,
            deadzone: float = DEFAULT_DEADZONE, rd_weight: float = DEFAULT_RD_WEIGHT
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run g_a and h_a: x (B, bands, H, W) float32 -> (y_hat int32, z_hat int32, scale indexes int32);
    ``y_hat`` from :func:`quantise_gained` (RD choice at ``rd_weight``, or the ``deadzone`` rounding), the
    indexes from the normative integer h_s on ``z_hat`` (what :func:`code_latents` codes ``y_hat`` with).

    A format-2 package's graphs are the same for every rate point: ``h_a`` takes the un-gained ``y`` and the
    rate point's gain scales ``y`` before rounding (float32, as the format-1 graphs did inside)."""
    g_a = package.session("g_a", precision, target, threads)
    h_a = package.session("h_a", precision, target, threads)
    y = g_a.run(None, {"x": x})[0]
    z = h_a.run(None, {"y": y})[0]
    gain = package.gain
    if gain is not None:
        y = y * gain.reshape(1, -1, 1, 1)
    z_hat = np.rint(z).astype(np.int32)
    indexes = package.hyper_synthesis.indexes(z_hat)
    return quantise_gained(package, y, z_hat, deadzone, rd_weight, indexes), z_hat, indexes


def code_latents(package, y_hat: np.ndarray, z_hat: np.ndarray, indexes: np.ndarray | None = None
                 ) -> tuple[list[bytes], np.ndarray]:
    """Entropy-code a batch of latents (one chunk per batch item) with the package's frozen tables.
    Returns the chunk payloads and the scale indexes the normative integer h_s chose (``indexes``, if the
    caller already has them from ``z_hat``, saves computing them again)."""
    from onboard.entropy import encode_batch

    if indexes is None:
        indexes = package.hyper_synthesis.indexes(z_hat)
    if indexes.shape != y_hat.shape:
        raise ValueError(f"hyper-synthesis gives {indexes.shape} indexes for latents {y_hat.shape}")
    nz = z_hat.shape[1]
    z_idx = np.broadcast_to(np.arange(nz, dtype=np.int32).reshape(nz, 1, 1), z_hat.shape[1:])
    z_idx = np.ascontiguousarray(z_idx)
    z_streams = encode_batch(list(z_hat), [z_idx] * len(z_hat), package.z_tables)
    y_streams = encode_batch(list(y_hat), list(indexes), package.y_tables)
    return [pack_payload(zs, ys) for zs, ys in zip(z_streams, y_streams)], indexes


@dataclass(frozen=True)
class ChunkLatents:
    """What the encoder coded in one chunk (kept by :func:`encode_array` for verification)."""

    y_hat: np.ndarray
    z_hat: np.ndarray
    indexes: np.ndarray


def encode_array(arr: np.ndarray, two_d: bool, package, analysis, *, tile_h: int, tile_w: int,
                 scene_id: int, acquisition_time: datetime, progress: bool = False,
                 keep_latents: bool = False, band_order: str = "contiguous", spectral: str = "auto",
                 klt_components: int | None = None, transfer: str | float = "auto"
                 ) -> tuple[CodedScene, dict[int, ChunkLatents]]:
    """Encode a checked (H, W, C) array with an analysis function ``x (B, bands, h, w) float32 ->
    (y_hat int32, z_hat int32, scale indexes int32)`` (:func:`analyse`). Returns the scene and, with
    ``keep_latents``, chunk -> latents. ``transfer``: see :func:`transfer_milli`."""
    h, w, c = arr.shape
    if band_order not in ("contiguous", "correlation"):
        raise ValueError(f"band_order must be 'contiguous' or 'correlation', got {band_order!r}")
    mode = spectral_mode(package, spectral)
    milli = transfer_milli(package, transfer, bit_depth_of(arr), mode)
    order = None
    klt = None
    if mode == "klt":
        if band_order != "contiguous":
            raise ValueError("band_order='correlation' does not apply to KLT components")
        if klt_components is not None and not 1 <= klt_components <= c:
            raise UnsupportedInputError(f"klt_components={klt_components} outside 1..{c} for a {c}-band scene")
        klt = fit_klt(arr, n_components=klt_components, min_std=klt_min_std(package),
                      bits_per_unit_error=klt_error_price(package))
        ranges = None
        norm = klt.forward(arr)
        groups = band_groups(klt.n_components, package)
    else:
        ranges = band_ranges_of(arr)
        norm = normalise(arr, ranges, 1.0 if milli is None else milli / 1000.0)
        if band_order == "correlation" and package.cluster_bands is not None and c > 1:
            order = correlation_order(arr)
        groups = band_groups(c, package, order)
    slots = tile_slots(h, w, tile_h, tile_w, package.tile_multiple)
    coarse, fine = datetime_to_cuc(acquisition_time)
    header = SceneHeader(
        scene_id=int(scene_id), height=h, width=w, bands=c, dtype=arr.dtype.name, bit_depth=bit_depth_of(arr),
        tile_h=tile_h, tile_w=tile_w, cluster_bands=package.cluster_bands or 0,
        n_chunks=len(slots) * len(groups), package_id=package.package_id_bytes, cuc_coarse=coarse,
        cuc_fine=fine, band_ranges=ranges, two_d=two_d, band_order=order, spectral=klt, transfer_milli=milli)
    chunks: list[Chunk] = []
    kept: dict[int, ChunkLatents] = {}
    it = slots
    if progress:
        from tqdm import tqdm

        it = tqdm(slots, desc="encode", unit="tile")
    for slot in it:
        y_hat, z_hat, indexes = analysis(_tile_batch(norm, slot, groups))
        payloads, indexes = code_latents(package, y_hat, z_hat, indexes)
        base = header.chunk_index(slot.row, slot.col, 0)
        chunks.extend(Chunk(base + g, p) for g, p in enumerate(payloads))
        if keep_latents:
            for g in range(len(payloads)):
                kept[base + g] = ChunkLatents(y_hat[g], z_hat[g], indexes[g])
    return CodedScene(header, chunks), kept


def tile_size(tile) -> tuple[int, int]:
    """``tile`` (one int for square tiles, or ``(h, w)``) -> ``(tile_h, tile_w)`` pixels; ValueError outside
    1..65535 (the header's u16 fields).

    >>> tile_size(512), tile_size((256, 128))
    ((512, 512), (256, 128))
    """
    tile_h, tile_w = (tile, tile) if isinstance(tile, (int, np.integer)) else tuple(tile)
    if not (1 <= tile_h <= 0xFFFF and 1 <= tile_w <= 0xFFFF):
        raise ValueError(f"tile size must be in 1..65535, got {(tile_h, tile_w)}")
    return int(tile_h), int(tile_w)


def encode_image(image: np.ndarray, package, target: str = "cpu", precision: str = "int8", *,
                 tile: int | tuple[int, int] = DEFAULT_TILE, scene_id: int = 0,
                 acquisition_time: datetime = DEFAULT_ACQUISITION_TIME, threads: int | None = None,
                 progress: bool = False, band_order: str = "contiguous", spectral: str = "auto",
                 klt_components: int | None = None, deadzone: float = DEFAULT_DEADZONE,
                 rd_weight: float = DEFAULT_RD_WEIGHT, transfer: str | float = "auto") -> CodedScene:
    """Encode an (H, W) or (H, W, C) uint8/uint16/int16 array with a model package.

    ``package``: a :class:`~onboard.package.ModelPackage`, a zoo name or a package directory.
    ``target``: ``"cpu"`` or ``"cuda"`` (ONNX Runtime execution provider; a clear error when CUDA is absent).
    ``precision``: ``"int8"`` (static QDQ) or ``"fp32"`` for ``g_a``/``h_a``.
    ``tile``: tile size in pixels (a multiple of 64 is most efficient; edge tiles are padded).
    ``acquisition_time``: timezone-aware UTC time written to the header as CCSDS CUC.
    ``threads``: ONNX Runtime intra-op threads (default: its own choice).
    ``band_order`` (clustered packages): ``"contiguous"`` clusters of consecutive bands, or ``"correlation"``
    clusters chosen from the inter-band correlation (:func:`correlation_order`, sent in the header).
    ``spectral`` (clustered packages): ``"klt"`` codes the first K spectral KLT components instead of the bands
    (:mod:`onboard.spectral`; far fewer samples to code for a hyperspectral cube), ``"none"`` the bands,
    ``"auto"`` (default) what the package was trained for. ``klt_components``: K (default: every component
    whose standard deviation is worth the package's error, :func:`klt_min_std`).
    ``rd_weight``: weight of the rate-distortion choice of each latent integer (:mod:`onboard.rd_quantise`;
    default ``DEFAULT_RD_WEIGHT``); 0, or a package without distortion weights, rounds with ``deadzone`` instead,
    the latent rounding dead zone in [0, 0.5) (:func:`quantise_latent`; 0 is plain rounding). The decoder
    needs neither: it reads the integers sent.
    ``transfer``: ``"auto"`` (default; image packages code data of more than 8 bits through a power-law curve,
    :data:`HIGH_BIT_DEPTH_EXPONENT`), ``"linear"``, or an exponent (:func:`transfer_milli`); the header carries
    it and the ground inverts it.
    Returns a :class:`CodedScene` with one chunk per (tile, band or component group).
    """
    from onboard.package import PRECISIONS, TARGETS
    from onboard.zoo import resolve

    package = resolve(package)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    arr, two_d = check_input(image, package)
    tile_h, tile_w = tile_size(tile)
    check_deadzone(deadzone)  # before the first tile, like the checks above
    check_rd_weight(rd_weight)
    transfer_milli(package, transfer, bit_depth_of(arr), spectral_mode(package, spectral))  # a typed error now
    package.session("g_a", precision, target, threads)  # fail early on a missing provider or file

    def analysis(x: np.ndarray):
        return analyse(package, x, target, precision, threads, deadzone, rd_weight)

    scene, _ = encode_array(arr, two_d, package, analysis, tile_h=tile_h, tile_w=tile_w, scene_id=scene_id,
                            acquisition_time=acquisition_time, progress=progress, band_order=band_order,
                            spectral=spectral, klt_components=klt_components, transfer=transfer)
    return scene
