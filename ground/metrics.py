"""Quality metrics of a reconstruction against its reference (pure numpy).

- ``psnr_db``: peak from the declared bit depth (``2**bits - 1``; for signed data ``2**(bits-1) - 1``);
- ``snr_db``: signal power (mean square of the reference) over MSE;
- ``mse``, ``max_abs_error``;
- ``sam_deg``: mean spectral angle between reference and reconstructed spectra (pixels with a zero spectrum
  skipped), for multi-band data;
- ``ms_ssim``: multi-scale SSIM (Wang et al. 2003, 5 scales, Gaussian window sigma 1.5) on each band, averaged,
  for images of at least 161 x 161 pixels (fewer scales below that).

Every function takes (H, W) or (H, W, C) arrays. ``mask`` (same H, W) restricts to valid pixels.

Example:
    >>> import numpy as np
    >>> a = np.zeros((4, 4), np.uint8); b = a.copy(); b[0, 0] = 255
    >>> round(psnr_db(a, b, bit_depth=8), 2)
    12.04
"""
from __future__ import annotations

import math

import numpy as np


def _flat(ref: np.ndarray, rec: np.ndarray, mask: np.ndarray | None):
    r = ref.astype(np.float64)
    d = rec.astype(np.float64)
    if r.shape != d.shape:
        raise ValueError(f"reference shape {ref.shape} != reconstruction shape {rec.shape}")
    if r.ndim == 2:
        r, d = r[:, :, None], d[:, :, None]
    if mask is not None:
        m = np.asarray(mask, bool)
        r, d = r[m], d[m]
    return r.reshape(-1, r.shape[-1]), d.reshape(-1, d.shape[-1])


def peak_value(bit_depth: int, signed: bool = False) -> float:
    return float((1 << (bit_depth - 1)) - 1) if signed else float((1 << bit_depth) - 1)


def mse(ref, rec, mask=None) -> float:
    r, d = _flat(ref, rec, mask)
    return float(np.mean((r - d) ** 2)) if r.size else math.nan


def psnr_db(ref, rec, bit_depth: int, mask=None) -> float:
    m = mse(ref, rec, mask)
    peak = peak_value(bit_depth, np.asarray(ref).dtype.kind == "i")
    return math.inf if m == 0 else float(10 * math.log10(peak * peak / m))


def snr_db(ref, rec, mask=None) -> float:
    r, d = _flat(ref, rec, mask)
    m = float(np.mean((r - d) ** 2))
    p = float(np.mean(r ** 2))
    return math.inf if m == 0 else float(10 * math.log10(p / m)) if p > 0 else -math.inf


def max_abs_error(ref, rec, mask=None) -> float:
    r, d = _flat(ref, rec, mask)
    return float(np.max(np.abs(r - d))) if r.size else math.nan


def sam_deg(ref, rec, mask=None) -> float:
    """Mean spectral angle in degrees over pixels whose reference and reconstruction spectra are non-zero."""
    r, d = _flat(ref, rec, mask)
    if r.shape[1] < 2:
        return math.nan
    nr = np.linalg.norm(r, axis=1)
    nd = np.linalg.norm(d, axis=1)
    ok = (nr > 0) & (nd > 0)
    if not ok.any():
        return math.nan
    cos = np.sum(r[ok] * d[ok], axis=1) / (nr[ok] * nd[ok])
    return float(np.degrees(np.mean(np.arccos(np.clip(cos, -1.0, 1.0)))))


def _gauss_filter(x: np.ndarray, sigma: float = 1.5, size: int = 11) -> np.ndarray:
    from scipy.ndimage import correlate1d

    t = np.arange(size) - size // 2
    g = np.exp(-(t ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    y = correlate1d(x, g, axis=0, mode="reflect")
    return correlate1d(y, g, axis=1, mode="reflect")


def _ssim_cs(x: np.ndarray, y: np.ndarray, peak: float) -> tuple[float, float]:
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mx, my = _gauss_filter(x), _gauss_filter(y)
    sxx = _gauss_filter(x * x) - mx * mx
    syy = _gauss_filter(y * y) - my * my
    sxy = _gauss_filter(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = ((2 * mx * my + c1) / (mx * mx + my * my + c1)) * cs
    return float(ssim.mean()), float(cs.mean())


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(ref, rec, bit_depth: int) -> float:
    """Multi-scale SSIM averaged over bands (scales limited by the image size)."""
    r = np.asarray(ref, np.float64)
    d = np.asarray(rec, np.float64)
    if r.ndim == 2:
        r, d = r[:, :, None], d[:, :, None]
    peak = peak_value(bit_depth, np.asarray(ref).dtype.kind == "i")
    n_scales = 5
    while n_scales > 1 and min(r.shape[:2]) < 11 * 2 ** (n_scales - 1):
        n_scales -= 1
    w = np.array(MS_SSIM_WEIGHTS[:n_scales])
    w = w / w.sum()
    vals = []
    for b in range(r.shape[2]):
        x, y = r[:, :, b], d[:, :, b]
        cs_list = []
        ssim = 1.0
        for s in range(n_scales):
            ssim, cs = _ssim_cs(x, y, peak)
            cs_list.append(max(cs, 1e-12))
            if s < n_scales - 1:
                h, wd = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
                x = x[:h, :wd].reshape(h // 2, 2, wd // 2, 2).mean(axis=(1, 3))
                y = y[:h, :wd].reshape(h // 2, 2, wd // 2, 2).mean(axis=(1, 3))
        vals.append(float(np.prod(np.array(cs_list[:-1]) ** w[:-1]) * max(ssim, 1e-12) ** w[-1]))
    return float(np.mean(vals))


def quality_report(ref, rec, bit_depth: int, mask=None) -> dict[str, float]:
    """Every metric of this module as a dict (SAM only for multi-band data)."""
    out = {"psnr_db": psnr_db(ref, rec, bit_depth, mask), "snr_db": snr_db(ref, rec, mask),
           "mse": mse(ref, rec, mask), "max_abs_error": max_abs_error(ref, rec, mask)}
    if np.asarray(ref).ndim == 3 and np.asarray(ref).shape[2] > 1:
        out["sam_deg"] = sam_deg(ref, rec, mask)
    return out
