"""Tile padding (onboard.padding): real pixels untouched, the fade reaches the mean, bad sizes refused."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboard.padding import fade_pad


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), extra_h=st.integers(0, 40), extra_w=st.integers(0, 40),
       c=st.integers(1, 4), fade=st.integers(1, 20), seed=st.integers(0, 2**16))
def test_real_pixels_kept_and_padding_fades_to_the_mean(h, w, extra_h, extra_w, c, fade, seed):
    tile = np.random.default_rng(seed).random((h, w, c), dtype=np.float32)
    out = fade_pad(tile, h + extra_h, w + extra_w, fade_px=fade)
    assert out.shape == (h + extra_h, w + extra_w, c) and out.dtype == np.float32
    assert np.array_equal(out[:h, :w], tile)
    mean = tile.reshape(-1, c).mean(axis=0)
    far = out[h - 1 + fade:, :] if extra_h >= fade else None
    if far is not None and far.size:
        assert np.allclose(far, mean, atol=1e-6)
    # every padded value lies between the edge value it continues and the mean (a convex blend)
    lo, hi = np.minimum(tile.min(axis=(0, 1)), mean), np.maximum(tile.max(axis=(0, 1)), mean)
    assert np.all(out >= lo - 1e-6) and np.all(out <= hi + 1e-6)


def test_one_pixel_beyond_the_edge_is_mostly_the_edge():
    tile = np.zeros((4, 4, 1), np.float32)
    tile[:, -1] = 1.0  # the right edge column is 1, the mean 0.25
    out = fade_pad(tile, 4, 8, fade_px=16)
    assert out[0, 4, 0] == pytest.approx(1.0 - (1 / 16) * 0.75)
    assert np.all(np.diff(out[0, 3:, 0]) < 0)  # monotone towards the mean


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="cannot pad"):
        fade_pad(np.zeros((8, 8, 1), np.float32), 4, 8)
    with pytest.raises(ValueError, match="fade_px"):
        fade_pad(np.zeros((8, 8, 1), np.float32), 16, 16, fade_px=0)
