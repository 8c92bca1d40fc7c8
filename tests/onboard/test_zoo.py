"""The shipped model packages: they load, verify, decode bit-exactly and reach their stated quality floors on
the bundled samples (image -> encode -> bytes -> decode -> PSNR above the floor)."""
from __future__ import annotations

import numpy as np
import pytest

import ground
import onboard
from ground.metrics import psnr_db
from ground.verify import verify_variant
from onboard.samples import load_sample

# PSNR floors (dB) on the bundled Landsat 7 sample, int8 encoder: measured with the shipped packages
# (see the issue notes) minus a margin for machine differences in the float transforms.
# Measured (int8, the packages of run rgb_m192c at step 13500, percentile-calibrated int8, fade padding):
# 24.08, 24.69, 25.08, 25.36, 25.54 dB at 0.32 .. 1.04 bpp; floors about 0.5 dB below.
RGB_FLOOR_DB = {"hp-rgb-q0": 23.6, "hp-rgb-q1": 24.2, "hp-rgb-q2": 24.6, "hp-rgb-q3": 24.9, "hp-rgb-q4": 25.0}


def family(prefix: str) -> list[str]:
    return [n for n in onboard.zoo.available() if n.rsplit("-q", 1)[0] == prefix]


def test_zoo_ships_at_least_four_rgb_rate_points():
    names = family("hp-rgb")
    assert len(names) >= 4
    pkgs = [onboard.zoo.load(n) for n in names]
    lambdas = [p.lmbda for p in pkgs]
    assert lambdas == sorted(lambdas) and len(set(lambdas)) == len(lambdas)  # one rate point per name
    assert len({p.package_id for p in pkgs}) == len(pkgs)
    for p in pkgs:
        assert p.cluster_bands is None and p.bands == 3
        assert p.manifest["training"].get("command"), "the training command must be recorded"


def test_rgb_packages_reach_their_floor_and_order():
    img = load_sample("landsat7_rgb")
    rates, quals = [], []
    for name in family("hp-rgb"):
        pkg = onboard.zoo.load(name)
        data = onboard.encode_image(img, pkg).to_bytes()
        out = ground.decode_image(data, pkg)
        assert out.shape == img.shape and out.dtype == img.dtype
        q = psnr_db(img, out, 8)
        rates.append(8 * len(data) / (img.shape[0] * img.shape[1]))
        quals.append(q)
        assert q >= RGB_FLOOR_DB.get(name, 20.0), (name, q)
    assert rates == sorted(rates)  # a higher rate point spends more bits ...
    assert all(b >= a - 0.05 for a, b in zip(quals, quals[1:]))  # ... for no worse quality


@pytest.mark.parametrize("variant", ["int8", "fp32"])
def test_shipped_package_is_bit_exact(variant):
    name = family("hp-rgb")[len(family("hp-rgb")) // 2]
    img = load_sample("ucmerced_harbor60")
    rep = verify_variant(img, onboard.zoo.load(name), variant)
    assert rep.ok, rep


def test_clustered_packages_take_a_real_cube():
    cc = [n for n in onboard.zoo.available() if onboard.zoo.load(n).cluster_bands is not None]
    if not cc:
        pytest.skip("no channel-clustered package shipped")
    cube = load_sample("aviris_jasper_32x32x198")
    for name in cc:
        pkg = onboard.zoo.load(name)
        rep = verify_variant(cube, pkg, "int8")
        assert rep.ok, rep
        assert rep.psnr_db > 30.0, (name, rep.psnr_db)


@pytest.mark.parametrize("name", ["hydice_urban_anomaly_crop.npz", "rosis_pavia_abu_beach4.npz"])
def test_clustered_package_on_an_unseen_sensor(shared_data, name):
    """HYDICE (162 bands) and ROSIS (102 bands) are sensors the clustered models never saw in training."""
    from onboard.imageio import read_array

    cc = [n for n in onboard.zoo.available() if n.startswith("cc-b8")]
    if not cc:
        pytest.skip("no B=8 package shipped")
    cube = read_array(shared_data / "hsi" / name)
    signed = (cube.astype(np.int32) - 100).astype(np.int16)  # as signed reflectance with negative values
    for arr in (cube, signed):
        rep = verify_variant(arr, onboard.zoo.load(cc[0]), "int8")
        assert rep.ok, rep
