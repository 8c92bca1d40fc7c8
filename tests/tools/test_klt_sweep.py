"""The KLT component-count sweep: its K is the encoder's K, a higher floor never keeps more components, its
learned points are the containers the encoder writes, and bad settings are usage errors."""
import doctest
import importlib
import math

import numpy as np
import pytest

import onboard
from onboard.encoder import KLT_CODEC_FLOOR_STD, KLT_WATER_LEVEL_FACTOR
from onboard.samples import load_sample
from onboard.zoo import load
from tools.klt_sweep import components_for, learned_curve, main, parse_setting, sweep


@pytest.fixture(scope="module")
def cube():
    return load_sample("aviris_jasper_32x32x198")


def test_default_setting_gives_the_encoders_own_component_count(cube):
    for name in ("cc-klt-q0", "cc-klt-q7"):
        package = load(name)
        k = components_for(cube, package, KLT_WATER_LEVEL_FACTOR, KLT_CODEC_FLOOR_STD)
        assert k == onboard.encode_image(cube, package).header.spectral.n_components


def test_a_higher_floor_or_factor_never_keeps_more_components(cube):
    package = load("cc-klt-q7")
    ks = [components_for(cube, package, 0.7, floor) for floor in (0.001, 0.006, 0.015, 0.05, 0.5)]
    assert ks == sorted(ks, reverse=True) and ks[0] > ks[-1] >= 1
    low = load("cc-klt-q0")
    kf = [components_for(cube, low, factor, 1e-6) for factor in (0.1, 0.35, 0.7, 2.0, 8.0)]
    assert kf == sorted(kf, reverse=True) and kf[0] > kf[-1]


def test_learned_points_are_the_encoders_containers(cube):
    package = load("cc-klt-q2")
    (rate, psnr, k), = learned_curve(cube, [package], 0.7, 0.02)
    coded = onboard.encode_image(cube, package, klt_components=k)
    assert rate == 8.0 * coded.nbytes / cube.size and coded.header.spectral.n_components == k
    assert 20.0 < psnr < 80.0


def test_sweep_without_enough_anchor_points_is_nan_not_an_error(cube):
    packages = [load("cc-klt-q0"), load("cc-klt-q3")]
    res = sweep(cube, packages, [(0.7, 0.015)], np.array([0.05]))  # one anchor target: no BD-rate
    assert list(res) == [(0.7, 0.015)] and math.isnan(res[(0.7, 0.015)])


def test_against_first_compares_learned_curves_and_codes_no_anchor(cube, monkeypatch):
    import tools.klt_sweep as ks

    def no_anchor(*args, **kwargs):
        raise AssertionError("no anchor is coded against the first setting")

    monkeypatch.setattr(ks, "anchor_curve", no_anchor)
    packages = [load(f"cc-klt-q{q}") for q in (0, 2, 4, 6)]
    settings = [(0.7, 0.02), (0.7, 0.001), (0.7, 0.02)]
    res = sweep(cube, packages, settings, np.array([]), against_first=True)
    assert res[(0.7, 0.02)] == pytest.approx(0.0, abs=1e-9)  # the first (and the same again) against itself
    curves = [np.array(learned_curve(cube, packages, *s)) for s in settings[:2]]
    assert not np.array_equal(curves[0], curves[1])  # the settings keep different components here
    expected = ks.bd_rate(curves[0][:, 0], curves[0][:, 1], curves[1][:, 0], curves[1][:, 1])
    assert res[(0.7, 0.001)] == pytest.approx(expected)


@pytest.mark.parametrize("text", ["0.7", "a:b", "0:0.01", "0.7:-1", "0.7:nan"])
def test_bad_settings_are_refused(text):
    with pytest.raises(ValueError, match="FACTOR:FLOOR"):
        parse_setting(text)


def test_cli_prints_one_line_per_cube_and_a_mean(tmp_path, cube, capsys):
    path = tmp_path / "cube.npz"
    np.savez(path, data=cube)
    args = ["--package", "cc-klt-q0", "--package", "cc-klt-q2", "--package", "cc-klt-q4", "--package",
            "cc-klt-q6", "--anchor-points", "6", "--anchor-range", "0.05", "2.0", str(path)]
    assert main(["--setting", "0.7:0.015"] + args) == 0
    out = capsys.readouterr().out
    assert "0.7:0.015" in out and "mean per cube" in out and "of 1 cubes" in out
    with pytest.raises(SystemExit) as exc:
        main(["--setting", "0.7"] + args)
    assert exc.value.code == 2 and "FACTOR:FLOOR" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--setting", "0.7:0.015", "--package", "hp-rgb-q0", str(path)])
    assert exc.value.code == 2 and "spectral KLT" in capsys.readouterr().err


def test_module_doctests():
    result = doctest.testmod(importlib.import_module("tools.klt_sweep"))
    assert result.attempted >= 1 and result.failed == 0


def test_settings_that_keep_the_same_components_share_one_coding(cube):
    packages = [load("cc-klt-q0"), load("cc-klt-q7")]
    cache = {}
    first = learned_curve(cube, packages, 0.7, 0.015, cache=cache)
    assert sorted(cache) == [(0, first[0][2]), (1, first[1][2])]
    again = learned_curve(cube, packages, 0.7, 0.0151, cache=cache)  # the same K on this cube
    assert again == first and len(cache) == 2
    assert learned_curve(cube, packages, 0.7, 0.015) == first  # the cache changes no figure


def test_cli_skips_what_is_no_cube_and_says_why(tmp_path, cube, capsys):
    good, flat = tmp_path / "cube.npz", tmp_path / "flat.npy"
    np.savez(good, data=cube)
    np.save(flat, cube[:, :, 0])
    rc = main(["--setting", "0.7:0.015", "--package", "cc-klt-q0", "--anchor-points", "4", str(flat),
               str(tmp_path / "missing.npz"), str(good)])
    captured = capsys.readouterr()
    assert rc == 1
    assert "flat.npy: skipped (an (H, W, C) cube is needed, got shape (32, 32))" in captured.err
    assert "missing.npz: skipped" in captured.err
    assert "cube.npz 0.7:0.015" in captured.out and "of 1 cubes" in captured.out
