"""Concealment of lost chunks: fill the pixels no received chunk covers from their valid neighbours.

Method (documented, deterministic, per band): for every image row, invalid runs are linearly interpolated
between the nearest valid pixels to their left and right (``numpy.interp``; a run touching the border takes
its one valid neighbour); the same is done along every column; a lost pixel gets the mean of the row and
column estimates that exist. This is bilinear-like interpolation from the edges of the neighbouring tiles.
A band with no valid pixel at all in the scene is filled with mid-range (0.5). Concealed pixels are
flagged by the caller (``pixel_valid`` stays False for them).

Example:
    >>> import numpy as np
    >>> x = np.array([[[0.0], [9.0], [0.0], [3.0]]], np.float32).transpose(1, 0, 2)  # (4, 1, 1)
    >>> v = np.array([True, False, False, True]).reshape(4, 1, 1)
    >>> conceal_lost(x, v)[:, 0, 0].tolist()
    [0.0, 1.0, 2.0, 3.0]
"""
from __future__ import annotations

import numpy as np


def _interp_lines(band: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise linear interpolation of invalid pixels; returns (estimate, has_estimate)."""
    est = np.zeros_like(band, dtype=np.float64)
    has = np.zeros(band.shape, bool)
    pos = np.arange(band.shape[1])
    for r in range(band.shape[0]):
        v = valid[r]
        if v.all() or not v.any():
            continue
        miss = ~v
        est[r, miss] = np.interp(pos[miss], pos[v], band[r, v])
        has[r, miss] = True
    return est, has


def conceal_lost(recon: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """recon (H, W, C) float in [0, 1], valid (H, W, C) bool -> a copy with the invalid pixels filled."""
    out = recon.astype(np.float32, copy=True)
    for b in range(recon.shape[2]):
        vb = valid[:, :, b]
        if vb.all():
            continue
        if not vb.any():
            out[:, :, b] = 0.5
            continue
        band = recon[:, :, b].astype(np.float64)
        er, hr = _interp_lines(band, vb)
        ec, hc = _interp_lines(band.T, vb.T)
        ec, hc = ec.T, hc.T
        n = hr.astype(np.float64) + hc
        fill = np.where(n > 0, (er * hr + ec * hc) / np.maximum(n, 1), 0.5)
        miss = ~vb
        out[:, :, b][miss] = fill[miss].astype(np.float32)
    return out
