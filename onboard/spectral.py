"""Spectral KLT front-end for the clustered codec: decorrelate the bands before the learned spatial coder.

A hyperspectral cube's bands are strongly correlated: on the AVIRIS development cubes the first 8 principal
components hold all but ~0.1 % of the variance. Coding clusters of raw bands spends bits on that shared
structure again in every cluster; the classic remedy (Du and Fowler 2007) is a spectral Karhunen–Loève
transform (PCA) and a 2-D coder on the components. Here the components are coded by the clustered learned
codec, so the onboard network runs K times per pixel instead of C/B times (K = 4..16 for C = 100..224).

The transform that is *sent* is exactly the one both sides use:

- ``mean``: the per-band mean rounded to an integer of the scene's dtype (16 bits), or to a multiple of
  ``2**mean_shift`` when the encoder prices the table (:func:`choose_mean_shift`);
- ``basis``: the first K eigenvectors of the band covariance, (C, K), sent as int8 with one float32 step per
  component (``basis = basis_q * basis_step``); given the codec's price of distortion the encoder coarsens
  the step of components whose tilt costs less than the bits it saves (:func:`choose_basis_steps`);
- ``centre``: per-component mid-range, float32; ``scale``: one common scale, float32.

``u_k = ((x - mean) @ basis[:, k] - centre_k) / scale + 0.5`` lies in [0, 1]. One scale for every component
(not a range per component) keeps the transform orthonormal up to a constant, so the codec's single
rate–distortion trade-off spends bits where they reduce the squared error most (reverse water-filling):
weak components sit near 0.5 and cost almost nothing. The ground inverts with the pseudo-inverse of the sent
basis (float64), which projects onto exactly the subspace the encoder used, and clips to the data's range.

Why int8 and a pseudo-inverse: the basis is side information (C x K values; on a 100 x 100 x 198 AVIRIS crop
at 0.025 bpppb the float16 basis of K = 4 was a quarter of the whole container). Quantising it only tilts the
kept subspace a little: on the Jasper Ridge cube the truncation MSE with K = 4 / 8 / 16 components grew by
0.5 / 1.3 / 3.0 % against float16 (2210 -> 2220, 792 -> 802, 324 -> 334; the codec's own error at these rates is
8000-20000), while the transpose inverse of the quantised basis would have added up to 5 %.

Pure numpy; no I/O. Serialised as a table in the scene header (:mod:`onboard.container`).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> base = rng.integers(0, 1000, (32, 32, 1))
    >>> cube = (base * np.linspace(1, 2, 12) + rng.integers(0, 5, (32, 32, 12))).astype(np.uint16)
    >>> t = fit_klt(cube, n_components=3)
    >>> u = t.forward(cube)
    >>> u.shape, bool(u.min() >= 0 and u.max() <= 1)
    ((32, 32, 3), True)
    >>> err = np.abs(t.inverse(u) - cube).max()     # 3 of 12 components keep nearly everything here
    >>> bool(err < 10)
    True
    >>> SpectralKLT.unpack(t.pack(), 0, 12, "uint16")[0] == t
    True
"""
from __future__ import annotations

import binascii
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from onboard.errors import CorruptStreamError

MAX_COMPONENTS = 255
MAX_MEAN_SHIFT = 12
_DTYPE_LIMITS = {"uint8": (0, 255), "uint16": (0, 65535), "int16": (-32768, 32767)}
DEFAULT_MIN_STD = 0.006  # keep a component whose std is at least this fraction of the common scale


def _crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True, eq=False)
class SpectralKLT:
    """A sent spectral transform: ``mean`` (C,) int64, ``basis_q`` (C, K) int8 and ``basis_step`` (K,)
    float32 (the basis is their product), ``centre`` (K,) float32, ``scale`` float32 (see the module
    docstring); ``mean_shift``: the means are multiples of ``2**mean_shift`` and sent divided by it."""

    mean: np.ndarray
    basis_q: np.ndarray
    basis_step: np.ndarray
    centre: np.ndarray
    scale: float
    mean_shift: int = 0

    def __post_init__(self) -> None:
        c, k = self.basis_q.shape
        if self.mean.shape != (c,) or self.centre.shape != (k,) or self.basis_step.shape != (k,):
            raise ValueError(f"KLT shapes disagree: mean {self.mean.shape}, basis {self.basis_q.shape}, "
                             f"steps {self.basis_step.shape}, centre {self.centre.shape}")
        if self.basis_q.dtype != np.int8:
            raise ValueError(f"KLT basis_q must be int8, got {self.basis_q.dtype}")
        if not 1 <= k <= min(c, MAX_COMPONENTS):
            raise ValueError(f"KLT keeps {k} components of {c} bands (1..{min(c, MAX_COMPONENTS)} allowed)")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"KLT scale must be positive and finite, got {self.scale}")
        if not (np.all(np.isfinite(self.basis_step)) and np.all(self.basis_step > 0)
                and np.all(np.isfinite(self.centre))):
            raise ValueError("KLT basis steps must be positive and finite, centres finite")
        if np.linalg.matrix_rank(self.basis) < k:
            raise ValueError("KLT basis vectors are linearly dependent")
        if not 0 <= int(self.mean_shift) <= MAX_MEAN_SHIFT:
            raise ValueError(f"KLT mean shift must be in 0..{MAX_MEAN_SHIFT}, got {self.mean_shift}")
        if np.any(np.asarray(self.mean, np.int64) % (1 << int(self.mean_shift))):
            raise ValueError(f"KLT band means are not multiples of 2**{self.mean_shift}")

    @property
    def n_bands(self) -> int:
        return int(self.basis_q.shape[0])

    @property
    def n_components(self) -> int:
        return int(self.basis_q.shape[1])

    @property
    def basis(self) -> np.ndarray:
        """(C, K) float64: ``basis_q * basis_step``."""
        return self.basis_q.astype(np.float64) * self.basis_step.astype(np.float64)

    def __eq__(self, other) -> bool:
        return bool(isinstance(other, SpectralKLT) and np.array_equal(self.mean, other.mean)
                and np.array_equal(self.basis_q, other.basis_q)
                and np.array_equal(self.basis_step, other.basis_step) and np.array_equal(self.centre, other.centre)
                and np.float32(self.scale) == np.float32(other.scale) and self.mean_shift == other.mean_shift)

    def components(self, arr: np.ndarray) -> np.ndarray:
        """(H, W, C) integers -> (H, W, K) float64 components (before centring and scaling)."""
        if arr.ndim != 3 or arr.shape[2] != self.n_bands:
            raise ValueError(f"KLT for {self.n_bands} bands given shape {arr.shape}")
        x = arr.reshape(-1, self.n_bands).astype(np.float64) - self.mean.astype(np.float64)
        return (x @ self.basis).reshape(arr.shape[0], arr.shape[1], self.n_components)

    def forward(self, arr: np.ndarray) -> np.ndarray:
        """(H, W, C) integers -> (H, W, K) float32 codec input in [0, 1]."""
        p = self.components(arr)
        u = (p - self.centre.astype(np.float64)) / np.float64(np.float32(self.scale)) + 0.5
        return np.clip(u, 0.0, 1.0).astype(np.float32)

    def inverse(self, u: np.ndarray) -> np.ndarray:
        """(H, W, K) codec output -> (H, W, C) float64 band values (not yet rounded or clipped)."""
        if u.ndim != 3 or u.shape[2] != self.n_components:
            raise ValueError(f"KLT with {self.n_components} components given shape {u.shape}")
        p = (u.astype(np.float64) - 0.5) * np.float64(np.float32(self.scale)) + self.centre.astype(np.float64)
        b = self.basis
        synthesis = np.linalg.solve(b.T @ b, b.T)  # (K, C) pseudo-inverse: back onto the kept subspace
        x = p.reshape(-1, self.n_components) @ synthesis + self.mean.astype(np.float64)
        return x.reshape(u.shape[0], u.shape[1], self.n_bands)

    # --- bytes ----------------------------------------------------------------------------------
    def packed_size(self) -> int:
        return len(self.pack())

    def pack(self, dtype: str = "uint16") -> bytes:
        """``u8 mean_shift | u8 K | u32 n | n octets of zlib (RFC 1950) | CRC-16`` (big-endian; the CRC covers
        the first six octets and the zlib octets; tables written before the shift existed have 0 there, the
        high octet of what was a u16 K). Inflated, the zlib stream holds: C zigzag LEB128 varints, the band
        means divided by ``2**mean_shift``, each as the difference from the previous band's (the first from 0);
        K f32 centres; f32 scale; K f32 basis steps;
        C x K zigzag LEB128 varints, the int8 basis band-major, each band's row as the difference from the
        previous band's row (the first from 0). Spectra and eigenvectors are smooth across bands, so the
        differences are small: on the four development cubes this table is ~40 % smaller than the raw
        16-bit means and int8 basis. ``dtype`` is the scene's (the means must fit it)."""
        lo, hi = _DTYPE_LIMITS[dtype]
        if self.mean.min() < lo or self.mean.max() > hi:
            raise ValueError(f"KLT band means outside {dtype}")
        k = self.n_components
        raw = (_zigzag_varints(np.diff(np.asarray(self.mean, np.int64) >> int(self.mean_shift), prepend=0))
               + self.centre.astype(">f4").tobytes() + struct.pack(">f", float(self.scale))
               + self.basis_step.astype(">f4").tobytes()
               + _zigzag_varints(np.diff(self.basis_q.astype(np.int64), axis=0, prepend=0).ravel()))
        packed = zlib.compress(raw, 9)
        head = struct.pack(">BBI", int(self.mean_shift), k, len(packed))
        return head + packed + _crc16(head + packed).to_bytes(2, "big")

    @classmethod
    def unpack(cls, data: bytes, offset: int, n_bands: int, dtype: str = "uint16") -> tuple["SpectralKLT", int]:
        """Parse a packed table of a scene with ``n_bands`` bands at ``offset``; (table, offset after it).
        CorruptStreamError on truncation, CRC mismatch, an inflated size other than the table's, or impossible
        values."""
        if len(data) < offset + 6:
            raise CorruptStreamError("KLT table truncated before its sizes")
        shift, k, n = struct.unpack(">BBI", bytes(data[offset:offset + 6]))
        c = n_bands
        end = offset + 6 + n + 2
        if len(data) < end:
            raise CorruptStreamError(f"KLT table truncated: need {6 + n + 2} octets, have {len(data) - offset}")
        if _crc16(bytes(data[offset:end - 2])) != int.from_bytes(data[end - 2:end], "big"):
            raise CorruptStreamError("KLT table CRC mismatch")
        if not 1 <= k <= min(c, MAX_COMPONENTS):
            raise CorruptStreamError(f"KLT table keeps {k} components of {c} bands")
        if shift > MAX_MEAN_SHIFT:
            raise CorruptStreamError(f"KLT table mean shift {shift} exceeds {MAX_MEAN_SHIFT}")
        limit = 5 * c + 12 * k + 4 + 2 * c * k  # the largest inflated table (varints of 5 / 2 octets)
        try:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(bytes(data[offset + 6:end - 2]), limit + 1)
            if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data or len(raw) > limit:
                raise CorruptStreamError("KLT table: the zlib stream is incomplete or longer than a table")
            pos = 0
            mean_d, pos = _read_zigzag_varints(raw, pos, c)
            if len(raw) < pos + 4 * (2 * k + 1):
                raise CorruptStreamError("KLT table: inflated table too short")
            floats = np.frombuffer(raw[pos:pos + 4 * (2 * k + 1)], ">f4").astype(np.float32)
            pos += 4 * (2 * k + 1)
            basis_d, pos = _read_zigzag_varints(raw, pos, c * k)
            if pos != len(raw):
                raise CorruptStreamError(f"KLT table: {len(raw) - pos} octets left over")
        except zlib.error as exc:
            raise CorruptStreamError(f"KLT table: bad zlib stream ({exc})") from exc
        mean = np.cumsum(mean_d)
        if np.abs(mean).max(initial=0) > 1 << 17:
            raise CorruptStreamError("KLT table: band means outside their range")
        mean = mean << shift
        basis = np.cumsum(basis_d.reshape(c, k), axis=0)
        lo, hi = _DTYPE_LIMITS[dtype]
        if mean.min() < lo or mean.max() > hi or basis.min() < -128 or basis.max() > 127:
            raise CorruptStreamError("KLT table: band means or basis outside their ranges")
        try:
            table = cls(mean=mean, basis_q=basis.astype(np.int8), basis_step=floats[k + 1:].copy(),
                        centre=floats[:k].copy(), scale=float(floats[k]), mean_shift=shift)
        except ValueError as exc:
            raise CorruptStreamError(f"KLT table invalid: {exc}") from exc
        return table, end


def _zigzag_varints(values: np.ndarray) -> bytes:
    """Signed integers -> zigzag LEB128 octets."""
    out = bytearray()
    for v in np.asarray(values, np.int64).tolist():
        z = (v << 1) ^ (v >> 63)
        while z >= 0x80:
            out.append((z & 0x7F) | 0x80)
            z >>= 7
        out.append(z)
    return bytes(out)


def _read_zigzag_varints(raw: bytes, pos: int, count: int) -> tuple[np.ndarray, int]:
    out = np.empty(count, np.int64)
    for i in range(count):
        z, shift = 0, 0
        while True:
            if pos >= len(raw) or shift > 35:
                raise CorruptStreamError("KLT table: varint truncated or too long")
            b = raw[pos]
            pos += 1
            z |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        out[i] = (z >> 1) ^ -(z & 1)
    return out, pos


def _sample_pixels(arr: np.ndarray, max_pixels: int, rng: np.random.Generator | None) -> np.ndarray:
    flat = arr.reshape(-1, arr.shape[-1])
    if flat.shape[0] > max_pixels:
        rng = np.random.default_rng(0) if rng is None else rng
        flat = flat[np.sort(rng.choice(flat.shape[0], max_pixels, replace=False))]
    return flat.astype(np.float64)


def fit_klt(arr: np.ndarray, n_components: int | None = None, *, min_std: float = DEFAULT_MIN_STD,
            max_components: int = 32, max_pixels: int = 65536, rng: np.random.Generator | None = None,
            bits_per_unit_error: float | None = None) -> SpectralKLT:
    """Fit the spectral KLT of an (H, W, C) integer cube.

    ``n_components``: how many components to keep; ``None`` keeps every component (up to ``max_components``)
    whose standard deviation is at least ``min_std`` times the common scale (a component much weaker than the
    codec's error at the chosen rate costs bits and returns nothing). The covariance is estimated on at most
    ``max_pixels`` pixels drawn with ``rng`` (default: a fixed seed); the transform is computed from the
    int8/int values that are sent, so ``forward`` and ``inverse`` agree on both sides.

    ``bits_per_unit_error``: the codec's price of distortion, in bits per unit of squared error summed over the
    scene in the normalised component domain (``lambda * 255**2`` for a package trained on ``R + lambda * 255**2
    * MSE``). With it, each component's basis step is chosen by :func:`choose_basis_steps` to minimise the
    table's bits plus that price times the squared error a coarser basis adds; without it every component
    uses the finest int8 step. Returns a :class:`SpectralKLT`.
    """
    if arr.ndim != 3:
        raise ValueError(f"fit_klt takes an (H, W, C) cube, got shape {arr.shape}")
    c = arr.shape[2]
    if n_components is not None and not 1 <= n_components <= min(c, MAX_COMPONENTS):
        raise ValueError(f"n_components must be in 1..{min(c, MAX_COMPONENTS)} for {c} bands, got {n_components}")
    info = np.iinfo(arr.dtype)
    full_mean = arr.reshape(-1, c).astype(np.float64).mean(axis=0)
    mean = np.clip(np.rint(full_mean), info.min, info.max).astype(np.int64)
    x = _sample_pixels(arr, max_pixels, rng) - mean
    cov = x.T @ x / max(1, x.shape[0] - 1)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    evals, evecs = np.maximum(evals[order], 0.0), evecs[:, order]
    # a deterministic sign: the largest-magnitude entry of each eigenvector is positive
    signs = np.sign(evecs[np.argmax(np.abs(evecs), axis=0), np.arange(c)])
    evecs = evecs * np.where(signs == 0, 1.0, signs)
    k_max = min(c, MAX_COMPONENTS, max(max_components, n_components or 0))
    vecs = evecs[:, :k_max]
    step = (np.abs(vecs).max(axis=0) / 127.0).astype(np.float32)
    basis_q = np.clip(np.rint(vecs / step.astype(np.float64)), -127, 127).astype(np.int8)
    basis = basis_q.astype(np.float64) * step.astype(np.float64)
    lo, hi, scale = _component_ranges(arr, mean, basis)
    if n_components is None:
        std = np.sqrt(evals[:k_max])
        n_components = max(1, int(np.sum(std >= min_std * scale)))
    k = n_components
    basis_q, step = basis_q[:, :k].copy(), step[:k].copy()
    shift = 0
    if bits_per_unit_error is not None:
        n_pixels = arr.shape[0] * arr.shape[1]
        shifted, shift = choose_mean_shift(mean, basis_q, step, cov, scale, n_pixels, bits_per_unit_error,
                                           (int(info.min), int(info.max)))
        d = (mean - shifted).astype(np.float64)
        cov = cov + np.outer(d, d)  # the pixels' second moment about the mean that is sent
        mean = shifted
        basis_q, step = choose_basis_steps(vecs[:, :k], cov, mean, scale, n_pixels, bits_per_unit_error,
                                           mean_shift=shift)
        lo, hi, scale = _component_ranges(arr, mean, basis_q.astype(np.float64) * step.astype(np.float64))
    centre = (0.5 * (lo[:k] + hi[:k])).astype(np.float32)
    return SpectralKLT(mean=mean, basis_q=basis_q, basis_step=step, centre=centre, scale=scale, mean_shift=shift)


def _component_ranges(arr: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-component (min, max) of the cube's projection on ``basis`` about ``mean``, and the common scale
    (float32-exact, a hair above the widest range, at least 1)."""
    p = (arr.reshape(-1, arr.shape[2]).astype(np.float64) - mean) @ basis
    lo, hi = p.min(axis=0), p.max(axis=0)
    return lo, hi, float(np.float32(max(float((hi - lo).max()), 1.0) * 1.0001))


def _priced_cost(mean: np.ndarray, basis_q: np.ndarray, basis_step: np.ndarray, mean_shift: int, scale: float,
                 cov: np.ndarray, weight: float) -> float:
    """``8 * table octets + weight * residual``: a candidate table's bits plus its priced projection error
    (``weight``: bits per unit of per-pixel squared error, i.e. the price x pixels / scale**2)."""
    octets = SpectralKLT(mean=mean, basis_q=basis_q, basis_step=basis_step, centre=np.zeros(basis_q.shape[1],
                         np.float32), scale=scale, mean_shift=mean_shift).packed_size()
    return 8.0 * octets + weight * _residual_energy(basis_q.astype(np.float64) * basis_step.astype(np.float64),
                                                     cov)


def _shifted_mean(mean: np.ndarray, shift: int, limits: tuple[int, int]) -> np.ndarray:
    """The multiple of ``2**shift`` nearest each band mean, inside the dtype's ``limits``."""
    unit = 1 << shift
    lo, hi = -(-limits[0] // unit), limits[1] // unit
    return np.clip(np.rint(mean / unit), lo, hi).astype(np.int64) * unit


def choose_mean_shift(mean: np.ndarray, basis_q: np.ndarray, basis_step: np.ndarray, cov: np.ndarray,
                      scale: float, n_pixels: int, bits_per_unit_error: float, limits: tuple[int, int]
                      ) -> tuple[np.ndarray, int]:
    """Round the band means to multiples of ``2**shift`` where that pays (see :func:`choose_basis_steps`).

    The means are a large part of a small scene's table (C varints of 1-3 octets). An error ``d`` in the sent
    mean shifts every pixel by the same vector; its part inside the kept subspace moves the components (the
    centres absorb it) and its part outside adds ``n_pixels * |(I - P) d|**2`` squared error. For each shift
    in ``0..MAX_MEAN_SHIFT`` this prices that error at ``bits_per_unit_error / scale**2`` against the table's
    bits and keeps the cheapest. ``mean``: (C,) int64; ``limits``: the dtype's (min, max).
    Returns (sent means, shift)."""
    weight = float(bits_per_unit_error) * n_pixels / float(scale) ** 2
    best = None
    for shift in range(MAX_MEAN_SHIFT + 1):
        sent = _shifted_mean(mean, shift, limits)
        d = (mean - sent).astype(np.float64)
        value = _priced_cost(sent, basis_q, basis_step, shift, scale, cov + np.outer(d, d), weight)
        if best is None or value < best[0]:
            best = (value, sent, shift)
    return best[1], best[2]


BASIS_COARSENING = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0)


def _residual_energy(basis: np.ndarray, cov: np.ndarray) -> float:
    """Per-pixel squared error (summed over bands) of projecting pixels of second moment ``cov`` onto the
    span of ``basis`` (C, K): ``trace(cov) - trace(P cov)`` with ``P`` the orthogonal projector."""
    q, _ = np.linalg.qr(basis)
    return float(np.trace(cov) - np.sum(q * (cov @ q)))


def choose_basis_steps(vecs: np.ndarray, cov: np.ndarray, mean: np.ndarray, scale: float, n_pixels: int,
                       bits_per_unit_error: float, mean_shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Quantise the kept eigenvectors ``vecs`` (C, K) with one step per component, coarse where it pays.

    A coarser step makes the int8 basis cheaper to send (smaller band-to-band differences for the varints and
    zlib) and tilts the kept subspace, which adds ``n_pixels * residual`` squared error (``residual`` from the
    pixels' second moment ``cov`` about the sent ``mean``). Each component's step is chosen from
    ``max|v| / 127 * BASIS_COARSENING`` to minimise ``8 * table octets + bits_per_unit_error * added error /
    scale**2`` (the codec's own exchange rate between bits and squared error), one component at a time from
    the strongest, each against the steps already chosen. Strong components keep fine steps (their energy
    makes any tilt expensive); weak ones at low rates get coarse ones. On the four development cubes with
    cc-klt this shrank the table by 22-36 % at q0 (729 -> 570, 464 -> 298, 609 -> 431, 252 -> 186 octets) and
    by 11-18 % at q7, and moved the whole container's BD-rate by -3.4 % (averaged curves; -2.7 to -4.2 % per
    cube) at unchanged PSNR. Halving or quartering the price moved it by -3.5 / -3.0 %: the codec's own
    lambda is near the best exchange rate, so no constant is tuned here. With the means priced as well
    (:func:`choose_mean_shift`) the q0 tables fell 44-59 % (729 -> 409, 464 -> 255, 609 -> 252, 252 -> 109
    octets) and the BD-rate change became -6.0 % (-3.8 to -10.1 % per cube).
    Returns (basis_q int8 (C, K), basis_step float32 (K,))."""
    c, k = vecs.shape
    vmax = np.abs(vecs).max(axis=0)
    weight = float(bits_per_unit_error) * n_pixels / float(scale) ** 2

    def quantise(j: int, factor: float) -> tuple[np.ndarray, np.float32]:
        st = np.float32(vmax[j] / 127.0 * factor)
        return np.clip(np.rint(vecs[:, j] / np.float64(st)), -127, 127).astype(np.int8), st

    cols = [quantise(j, 1.0) for j in range(k)]

    def cost(columns) -> float:
        return _priced_cost(mean, np.stack([col for col, _ in columns], axis=1),
                            np.array([s for _, s in columns], np.float32), mean_shift, scale, cov, weight)

    for j in range(k):
        best = None
        for factor in BASIS_COARSENING:
            trial = list(cols)
            trial[j] = quantise(j, factor)
            if not np.any(trial[j][0]):
                break
            try:
                value = cost(trial)
            except ValueError:  # a basis so coarse that it lost rank
                break
            if best is None or value < best[0]:
                best = (value, trial[j])
        cols[j] = best[1]
    return (np.stack([col for col, _ in cols], axis=1),
            np.array([s for _, s in cols], np.float32))
