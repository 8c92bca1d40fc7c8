"""The encoder's rate-distortion choice of latent integers, its distortion weights and how the decoder follows."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ground
import onboard
from ground.verify import verify_variant
from onboard.entropy import IndexOutOfRangeError, default_scale_table, gaussian_tables, ideal_bits, symbol_bits
from onboard.package import PackageCorruptError, load_package, read_manifest, rewrite_manifest
from onboard.rd_quantise import check_rd_weight, rd_multipliers, rd_quantise, rd_quantise_reference

TABLES = gaussian_tables(default_scale_table())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-60, 60, allow_nan=False, width=32), st.integers(0, 63)), min_size=1,
                max_size=48),
       st.floats(0.0, 1e4))
def test_choice_is_rint_or_one_step_in_and_never_costs_more(pairs, mu):
    y = np.array([p[0] for p in pairs], np.float32).reshape(1, 1, -1)
    idx = np.array([p[1] for p in pairs], np.int32).reshape(1, 1, -1)
    q = rd_quantise(y, idx, TABLES, np.array([mu]))
    assert q.dtype == np.int32 and q.shape == y.shape
    assert np.array_equal(q, rd_quantise_reference(y, idx, TABLES, np.array([mu])))  # numba kernel vs numpy
    q0 = np.rint(y).astype(np.int64)
    qq = q.astype(np.int64)
    assert np.all((qq == q0) | (qq == q0 - np.sign(q0)))  # rint or one step towards zero
    assert np.all(np.sign(qq) * np.sign(q0) >= 0)  # never crosses zero
    cost = symbol_bits(qq, idx, TABLES) + mu * (y.astype(np.float64) - qq) ** 2
    cost0 = symbol_bits(q0, idx, TABLES) + mu * (y.astype(np.float64) - q0) ** 2
    assert np.all(cost <= cost0 + 1e-9)


@given(st.lists(st.tuples(st.integers(-2000, 2000), st.integers(0, 63)), min_size=1, max_size=64))
def test_symbol_bits_sums_to_ideal_bits(pairs):
    sym = np.array([p[0] for p in pairs], np.int32)
    idx = np.array([p[1] for p in pairs], np.int32)
    b = symbol_bits(sym, idx, TABLES)
    assert b.shape == sym.shape and np.all(b > 0)
    assert np.isclose(b.sum(), ideal_bits(sym, idx, TABLES))


def test_symbol_bits_matches_the_coded_length():
    """Oracle: the rANS stream of a long sequence is its summed code length plus the 8-byte state, within the
    coder's stated loss (0.02 %, taken as 0.5 % plus one word)."""
    from onboard.entropy import encode_with_indexes

    rng = np.random.default_rng(3)
    idx = rng.integers(0, 64, 20000).astype(np.int32)
    sym = np.rint(rng.normal(0, default_scale_table()[idx])).astype(np.int32)
    sym[::997] = 5000  # a few escapes
    ideal = symbol_bits(sym, idx, TABLES).sum()
    coded_bits = 8 * len(encode_with_indexes(sym, idx, TABLES))
    assert ideal <= coded_bits <= ideal * 1.005 + 64 + 32


def test_kernel_matches_the_numpy_reference_on_latent_sized_arrays():
    rng = np.random.default_rng(5)
    y = (rng.normal(0, 6, (3, 16, 12, 10)) * rng.random((3, 16, 12, 10)) ** 2).astype(np.float32)
    y[0, 0, 0, :6] = [900.0, -1200.0, 0.5, -1.5, 2.5, 1e6]  # escapes and ties
    idx = rng.integers(0, 64, y.shape).astype(np.int32)
    mu = rng.random(16) * 4
    q = rd_quantise(y, idx, TABLES, mu)
    assert np.array_equal(q, rd_quantise_reference(y, idx, TABLES, mu))
    assert np.array_equal(rd_quantise(y[0], idx[0], TABLES, mu), q[0])  # (M, h, w) as well as batches


def test_extreme_weights_give_bits_only_or_rint():
    rng = np.random.default_rng(0)
    y = rng.normal(0, 3, (2, 4, 8, 8)).astype(np.float32)
    idx = rng.integers(0, 64, y.shape).astype(np.int32)
    close = rd_quantise(y, idx, TABLES, np.full(4, 1e9))
    far = np.abs(np.abs(y - np.rint(y)) - 0.5) > 1e-3  # not at a tie
    assert np.array_equal(close[far], np.rint(y)[far].astype(np.int32))
    cheap = rd_quantise(y, idx, TABLES, np.zeros(4))
    q0 = np.rint(y).astype(np.int32)
    assert np.all(symbol_bits(cheap, idx, TABLES) <= symbol_bits(q0, idx, TABLES))
    assert np.count_nonzero(cheap) < np.count_nonzero(q0)


def test_bad_arguments_are_typed_errors():
    y = np.zeros((1, 2, 3, 3), np.float32)
    idx = np.zeros(y.shape, np.int32)
    with pytest.raises(ValueError, match="indexes shape"):
        rd_quantise(y, idx[:, :1], TABLES, np.ones(2))
    with pytest.raises(ValueError, match="one value per latent channel"):
        rd_quantise(y, idx, TABLES, np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        rd_quantise(np.full_like(y, np.nan), idx, TABLES, np.ones(2))
    with pytest.raises(ValueError, match="mu must be finite"):
        rd_quantise(y, idx, TABLES, np.array([1.0, -1.0]))
    with pytest.raises(IndexOutOfRangeError, match="table index out of range"):
        rd_quantise(y, idx + 64, TABLES, np.ones(2))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="rd_weight"):
            check_rd_weight(bad)


def test_export_measures_distortion_weights(tiny_package):
    d = tiny_package.distortion_per_step
    assert d is not None and d.shape == (tiny_package.latent_channels,) and np.all(d > 0)
    assert read_manifest(tiny_package.path)["encoder"]["distortion_per_step"] == [float(v) for v in d]
    mu = rd_multipliers(tiny_package, 2.0)
    np.testing.assert_allclose(mu, 2.0 * tiny_package.lmbda * 255 ** 2 / tiny_package.bands * d)
    assert rd_multipliers(tiny_package, 0.0).max() == 0.0


def test_distortion_weights_add_up_positions_that_do_not_overlap(tiny_package):
    """Oracle for the grid measurement: perturbing positions 6 latent units apart in one g_s run gives the
    mean of perturbing each alone (their output footprints do not overlap)."""
    from onboard.models.distortion import measure_distortion_per_step, measurement_input

    x = measurement_input(3, crop=192)  # 12 x 12 latent: positions 3 and 9 in each direction
    d = measure_distortion_per_step(tiny_package, x=x, spacing=6)
    g_a, g_s = tiny_package.session("g_a"), tiny_package.session("g_s")
    gain, inv = tiny_package.gain.reshape(1, -1, 1, 1), tiny_package.inverse_gain.reshape(1, -1, 1, 1)
    q = np.rint(g_a.run(None, {"x": x})[0] * gain)
    base = g_s.run(None, {"y_hat": (q * inv).astype(np.float32)})[0].astype(np.float64)
    for c in (0, tiny_package.latent_channels - 1):
        one = []
        for i in (3, 9):
            for j in (3, 9):
                for step in (1.0, -1.0):
                    p = q.copy()
                    p[0, c, i, j] += step
                    out = g_s.run(None, {"y_hat": (p * inv).astype(np.float32)})[0].astype(np.float64)
                    one.append(np.sum((out - base) ** 2))
        np.testing.assert_allclose(d[c], np.mean(one), rtol=1e-3)


def test_distortion_weights_of_a_format_1_package_use_its_graphs_gain(tiny_format1_package):
    """A format-1 package has its gain inside g_a and g_s: one step of the gained latent is one unit of g_s's
    input."""
    from onboard.models.distortion import measure_distortion_per_step, measurement_input

    pkg = tiny_format1_package
    assert pkg.gain is None
    x = measurement_input(3, crop=128)  # 8 x 8 latent: the one grid position (3, 3)
    d = measure_distortion_per_step(pkg, x=x, spacing=6)
    q = np.rint(pkg.session("g_a").run(None, {"x": x})[0])
    g_s = pkg.session("g_s")
    base = g_s.run(None, {"y_hat": q.astype(np.float32)})[0].astype(np.float64)
    c = int(np.argmax(d))
    sse = []
    for step in (1.0, -1.0):
        p = q.copy()
        p[0, c, 3, 3] += step
        sse.append(np.sum((g_s.run(None, {"y_hat": p.astype(np.float32)})[0] - base) ** 2))
    np.testing.assert_allclose(d[c], np.mean(sse), rtol=1e-4)


def test_rd_choice_decodes_bit_exactly_and_lowers_the_rd_cost(tiny_package):
    """The RD choice is the encoder's alone: it decodes bit-exactly, and at weight 1 its cost in the package's
    own units (bits + lambda * 255^2 * squared error) is below plain rounding's."""
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:128, 0:128]
    img = np.clip(np.stack([(yy * (1 + b) + xx) % 256 for b in range(3)], -1) + rng.normal(0, 6, (128, 128, 3)),
                  0, 255).astype(np.uint8)
    costs = {}
    for w in (0.0, 1.0):
        coded = onboard.encode_image(img, tiny_package, precision="fp32", rd_weight=w, deadzone=0.0)
        rec = ground.decode_image(coded.to_bytes(), tiny_package)
        assert rec.shape == img.shape and rec.dtype == img.dtype
        sse = np.sum((rec.astype(np.float64) - img) ** 2) / 255.0 ** 2
        costs[w] = 8 * coded.nbytes + tiny_package.lmbda * 255 ** 2 * sse / 3
    assert costs[1.0] < costs[0.0]
    rep = verify_variant(img, tiny_package, "fp32")  # encoder and decoder latents agree with the default
    assert rep.ok, rep


def test_encoder_falls_back_to_the_dead_zone_without_weights(tiny_package, tmp_path):
    import shutil

    dst = tmp_path / tiny_package.path.name
    shutil.copytree(tiny_package.path, dst)
    shutil.copytree(tiny_package.path.parent / "_shared", tmp_path / "_shared")
    manifest = read_manifest(dst)
    del manifest["encoder"]
    rewrite_manifest(dst, manifest)
    plain = load_package(dst)
    assert plain.distortion_per_step is None and plain.package_id != tiny_package.package_id
    img = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    a = onboard.encode_image(img, plain, rd_weight=4.0, deadzone=0.1)
    b = onboard.encode_image(img, tiny_package, rd_weight=0.0, deadzone=0.1)
    assert [c.payload for c in a.chunks] == [c.payload for c in b.chunks]
    manifest["encoder"] = {"distortion_per_step": [1.0] * (tiny_package.latent_channels - 1)}
    rewrite_manifest(dst, manifest)
    with pytest.raises(PackageCorruptError, match="distortion_per_step"):
        _ = load_package(dst).distortion_per_step
    manifest["encoder"] = [1.0, 2.0]
    rewrite_manifest(dst, manifest)
    with pytest.raises(PackageCorruptError, match="encoder must be an object"):
        _ = load_package(dst).distortion_per_step
    with pytest.raises(ValueError, match="rd_weight"):
        onboard.encode_image(img, tiny_package, rd_weight=-1.0)


def test_every_shipped_package_carries_weights():
    """Every shipped package encodes with the RD choice (its manifest carries the weights)."""
    from onboard.zoo import available, load

    names = available()
    assert names
    for name in names:
        pkg = load(name)
        assert pkg.distortion_per_step is not None, name
        assert json.loads((pkg.path / "manifest.json").read_text())["encoder"]["measured"]
