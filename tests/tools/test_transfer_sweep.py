"""tools.transfer_sweep: how inputs are read (scene of a stack, true colour, crop) and one small sweep."""
from __future__ import annotations

import math

import numpy as np
import pytest

from onboard.errors import UnsupportedInputError
from tools.rd import resolve_packages
from tools.transfer_sweep import load_input, main, sweep


@pytest.fixture()
def stack(tmp_path):
    rng = np.random.default_rng(7)
    data = rng.integers(0, 4000, (2, 40, 50, 4)).astype(np.uint16)
    path = tmp_path / "s.npz"
    np.savez(path, data=data, bands=np.array(["B02", "B03", "B04", "B08"]))
    return path, data


def test_inputs_are_read_as_the_encoder_gets_them(stack, tmp_path):
    path, data = stack
    img = load_input(f"{path}:1")
    assert np.array_equal(img, data[1][:, :, [2, 1, 0]])  # scene 1, red first
    assert np.array_equal(load_input(f"{path}:0", bands=["B08", "B02", "B03"], crop=20),
                          data[0][10:30, 15:35][:, :, [3, 0, 1]])
    with pytest.raises(UnsupportedInputError, match="no scene 5"):
        load_input(f"{path}:5")
    np.save(tmp_path / "plain.npy", data[0])
    with pytest.raises(UnsupportedInputError, match="--bands"):
        load_input(str(tmp_path / "plain.npy"))


def test_a_sweep_gives_one_bd_rate_per_exponent(tmp_path, capsys):
    yy, xx = np.mgrid[0:96, 0:96]
    lum = 900 + 700 * (0.5 + 0.5 * np.sin(yy / 6.0) * np.cos(xx / 9.0)) ** 2
    img = np.clip(lum[:, :, None] * np.array([1.0, 0.9, 0.8]), 0, 16383).astype(np.uint16)
    img[:3, :3] = 16000
    packages = resolve_packages(["hp-rgb-q0", "hp-rgb-q2", "hp-rgb-q3", "hp-rgb-q5"])
    out = sweep(img, packages, [1.0, 0.8])
    assert list(out) == [1.0, 0.8] and all(math.isfinite(v) for v in out.values())
    assert out[1.0] != out[0.8]  # the curve changes what is coded
    np.save(tmp_path / "x.npy", img)
    assert main([str(tmp_path / "x.npy"), "--package", "hp-rgb",
                 "--exponents", "1", "0.8"]) == 0
    assert "mean BD-rate vs JPEG 2000" in capsys.readouterr().out
