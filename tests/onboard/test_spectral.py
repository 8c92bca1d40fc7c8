"""The spectral KLT front-end: the transform (numpy SVD as the oracle), its table's bytes (golden vector,
property round trips, corruption), and KLT-mode coding through the container and the ground decoder."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ground
import onboard
from ground.decoder import STATUS_MISSING, decode_scene
from ground.verify import verify_variant
from onboard.container import CodedScene
from onboard.errors import CorruptStreamError, UnsupportedInputError
from onboard.spectral import SpectralKLT, fit_klt



def low_rank_cube(h=48, w=40, c=30, rank=3, noise=2.0, dtype=np.uint16, offset=3000, seed=0):
    """Spectra mixed from ``rank`` smooth endmembers with spatially varying abundances, plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    ab = np.stack([np.sin(yy / (5.0 + i)) * np.cos(xx / (7.0 + 2 * i)) for i in range(rank)], axis=-1)
    ends = np.stack([np.sin(np.linspace(0, 3 + i, c)) for i in range(rank)]) * 800.0
    x = ab.reshape(-1, rank) @ ends + offset + rng.normal(0, noise, (h * w, c))
    info = np.iinfo(dtype)
    return np.clip(np.rint(x), info.min, info.max).astype(dtype).reshape(h, w, c)


def test_basis_spans_the_principal_subspace_of_numpy_svd():
    cube = low_rank_cube()
    t = fit_klt(cube, n_components=3)
    x = cube.reshape(-1, cube.shape[2]).astype(np.float64)
    _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    b = t.basis / np.linalg.norm(t.basis, axis=0)
    overlap = np.abs(vt[:3] @ b)  # 3 x 3, a signed permutation up to the int8 basis quantisation
    assert np.allclose(np.sort(overlap.max(axis=0)), 1.0, atol=5e-3)
    assert np.allclose(overlap.sum(axis=0), 1.0, atol=5e-2)


def test_round_trip_of_a_low_rank_cube_is_within_the_noise():
    cube = low_rank_cube(noise=2.0)
    t = fit_klt(cube, n_components=3)
    u = t.forward(cube)
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() <= 1.0
    err = t.inverse(u) - cube
    assert np.sqrt(np.mean(err ** 2)) < 3.0  # the noise (2.0 rms) is what 3 components cannot hold


def test_automatic_component_count_follows_the_signal():
    cube = low_rank_cube(rank=2, noise=1.0)
    assert fit_klt(cube, min_std=0.02).n_components == 2
    assert fit_klt(cube, min_std=1e-6).n_components == min(30, 32)


def _truncation_sse(t: SpectralKLT, cube: np.ndarray) -> float:
    """Squared error of projecting the cube onto the sent subspace (no codec error)."""
    u = t.components(cube)
    b = t.basis
    rec = u.reshape(-1, t.n_components) @ np.linalg.solve(b.T @ b, b.T) + t.mean
    return float(np.sum((rec - cube.reshape(-1, cube.shape[2])) ** 2))


def test_priced_basis_steps_trade_table_bits_against_added_error():
    cube = low_rank_cube(rank=4, noise=1.0, c=60)
    fine = fit_klt(cube, n_components=4)
    # distortion priced very high: no step is coarsened unless that adds no error at all (a coarser weak
    # vector may even absorb some of the strong ones' int8 rounding); the strong components keep the finest
    exact = fit_klt(cube, n_components=4, bits_per_unit_error=1e12)
    assert _truncation_sse(exact, cube) <= _truncation_sse(fine, cube) * (1 + 1e-9)
    assert np.array_equal(exact.basis_step[:3], fine.basis_step[:3])
    # priced cheaply: coarser steps, a smaller table, and the priced cost below the finest basis's
    price = 50.0
    cheap = fit_klt(cube, n_components=4, bits_per_unit_error=price)
    assert cheap.packed_size() < fine.packed_size()
    assert np.all(cheap.basis_step >= fine.basis_step) and np.any(cheap.basis_step > fine.basis_step)

    def cost(t):
        return 8 * t.packed_size() + price * _truncation_sse(t, cube) / t.scale ** 2

    assert cost(cheap) < cost(fine)
    # the strongest component is the most expensive to tilt: it is never coarser than the weakest
    ratio = cheap.basis_step / fine.basis_step
    assert ratio[0] <= ratio[-1]
    # the table stays a valid, decodable transform
    assert SpectralKLT.unpack(cheap.pack(), 0, cube.shape[2], "uint16")[0] == cheap


def test_weak_components_sit_near_the_middle_and_strong_ones_span_the_scale():
    t = fit_klt(low_rank_cube(rank=2), n_components=6)
    u = t.forward(low_rank_cube(rank=2))
    spans = u.max(axis=(0, 1)) - u.min(axis=(0, 1))
    assert spans[0] > 0.99 and spans[-1] < 0.05  # one common scale: noise components cost nothing


def test_signed_cube_and_table_bytes():
    cube = low_rank_cube(dtype=np.int16, offset=-500)
    assert cube.min() < 0
    t = fit_klt(cube, n_components=4)
    back, end = SpectralKLT.unpack(t.pack("int16"), 0, cube.shape[2], "int16")
    assert back == t and end == len(t.pack("int16"))
    with pytest.raises(ValueError, match="outside uint16"):
        t.pack("uint16")


def test_table_is_smaller_than_the_raw_values_on_smooth_spectra():
    cube = low_rank_cube(c=120, noise=1.0)
    t = fit_klt(cube, n_components=6)
    assert len(t.pack()) < 0.8 * (2 + 2 * 120 + 4 * 6 + 4 + 4 * 6 + 120 * 6 + 2)


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 40), k=st.integers(1, 40), seed=st.integers(0, 2**16),
       dtype=st.sampled_from(["uint16", "int16", "uint8"]), shift=st.integers(0, 12))
def test_table_round_trips(c, k, seed, dtype, shift):
    k = min(k, c)
    rng = np.random.default_rng(seed)
    lo, hi = (-30000, 30000) if dtype == "int16" else (0, 65535)
    q = rng.integers(-127, 128, (c, k)).astype(np.int8)
    q[np.arange(k), np.arange(k)] = 127  # independent columns (a dependent basis is refused)
    q[:k, :k] = np.where(np.eye(k, dtype=bool), 127, q[:k, :k] // 64)
    t = SpectralKLT(mean=rng.integers(lo, hi, c).astype(np.int64), basis_q=q,
                    basis_step=rng.uniform(1e-4, 1e-2, k).astype(np.float32),
                    centre=rng.normal(0, 1e3, k).astype(np.float32), scale=float(rng.uniform(1, 1e5)))
    mean = t.mean % 256 if dtype == "uint8" else t.mean
    t = SpectralKLT(mean=(mean >> shift) << shift, basis_q=t.basis_q, basis_step=t.basis_step, centre=t.centre,
                    scale=t.scale, mean_shift=shift)
    data = b"xx" + t.pack(dtype) + b"tail"
    back, end = SpectralKLT.unpack(data, 2, c, dtype)
    assert back == t and data[end:] == b"tail"


@settings(max_examples=60, deadline=None)
@given(pos=st.integers(0, 200), bit=st.integers(0, 7))
def test_any_flipped_bit_or_truncation_is_a_typed_error(pos, bit):
    t = fit_klt(low_rank_cube(c=12), n_components=3)
    data = bytearray(t.pack())
    pos %= len(data)
    data[pos] ^= 1 << bit
    with pytest.raises(CorruptStreamError):
        SpectralKLT.unpack(bytes(data), 0, 12)
    with pytest.raises(CorruptStreamError):
        SpectralKLT.unpack(t.pack()[:pos], 0, 12)


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(min_size=0, max_size=300), k=st.integers(0, 20))
def test_a_crc_valid_table_with_garbage_inside_is_a_typed_error(payload, k):
    """What the CRC cannot catch (a table written wrongly): a typed error or, if the octets happen to form a
    table, a valid one; never another exception, a hang or a huge allocation."""
    import struct
    import zlib

    from onboard.spectral import _crc16

    for body in (payload, zlib.compress(payload)):
        head = struct.pack(">HI", k, len(body))
        data = head + body + _crc16(head + body).to_bytes(2, "big")
        try:
            table, end = SpectralKLT.unpack(data, 0, 12)
        except CorruptStreamError:
            continue
        assert end == len(data) and table.n_bands == 12


def test_mean_shift_is_checked_on_both_sides():
    t = fit_klt(low_rank_cube(c=12), n_components=3)
    with pytest.raises(ValueError, match="multiples"):
        SpectralKLT(mean=t.mean | 1, basis_q=t.basis_q, basis_step=t.basis_step, centre=t.centre, scale=t.scale,
                    mean_shift=1)
    import struct

    from onboard.spectral import _crc16

    data = bytearray(t.pack())
    data[0] = 13  # a shift beyond MAX_MEAN_SHIFT, with a valid CRC
    data[-2:] = _crc16(bytes(data[:-2])).to_bytes(2, "big")
    with pytest.raises(CorruptStreamError, match="shift"):
        SpectralKLT.unpack(bytes(data), 0, 12)
    # a table written before the shift existed (u16 K) reads as shift 0
    assert struct.unpack(">H", t.pack()[:2])[0] == t.n_components and t.mean_shift == 0


def test_priced_mean_shift_rounds_the_means_where_it_pays():
    from onboard.spectral import choose_mean_shift

    cube = low_rank_cube(rank=3, noise=1.0, c=60)
    fine = fit_klt(cube, n_components=3)
    x = cube.reshape(-1, 60).astype(np.float64) - fine.mean
    cov = x.T @ x / (x.shape[0] - 1)
    args = (fine.mean, fine.basis_q, fine.basis_step, cov, fine.scale, 48 * 40)
    mean, shift = choose_mean_shift(*args, 1e12, (0, 65535))
    assert shift == 0 and np.array_equal(mean, fine.mean)
    mean, shift = choose_mean_shift(*args, 1.0, (0, 65535))
    assert shift > 0 and np.all(mean % (1 << shift) == 0) and np.all(np.abs(mean - fine.mean) <= 1 << (shift - 1))
    cheap = fit_klt(cube, n_components=3, bits_per_unit_error=1.0)
    assert cheap.mean_shift > 0 and cheap.packed_size() < fine.packed_size()
    # the components are taken about the sent mean, so the transform still inverts to within the noise
    err = cheap.inverse(cheap.forward(cube)) - cube
    assert np.sqrt(np.mean(err ** 2)) < 0.02 * cheap.scale


def test_a_zlib_bomb_is_refused():
    import struct
    import zlib

    from onboard.spectral import _crc16

    body = zlib.compress(bytes(10_000_000))
    head = struct.pack(">HI", 3, len(body))
    with pytest.raises(CorruptStreamError, match="longer than a table"):
        SpectralKLT.unpack(head + body + _crc16(head + body).to_bytes(2, "big"), 0, 12)


def test_bad_arguments_are_refused():
    cube = low_rank_cube(c=5)
    with pytest.raises(ValueError, match="n_components"):
        fit_klt(cube, n_components=6)
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        fit_klt(cube[:, :, 0])
    with pytest.raises(ValueError, match="5 bands"):
        fit_klt(cube, n_components=2).forward(cube[:, :, :4])


# --- coding in KLT mode ---------------------------------------------------------------------------
def test_klt_mode_codes_components_and_round_trips_bit_exactly(tiny_klt_package):
    cube = low_rank_cube(h=70, w=90, c=40)
    coded = onboard.encode_image(cube, tiny_klt_package, tile=64)  # "auto": the package's KLT mode
    h = coded.header
    assert h.spectral is not None and h.band_ranges is None
    assert h.n_chunks == 2 * 2 * h.spectral.n_components
    out = ground.decode_image(coded.to_bytes(), tiny_klt_package)
    assert out.shape == cube.shape and out.dtype == cube.dtype
    rep = verify_variant(cube, tiny_klt_package, "int8", tile=64)
    assert rep.ok, rep


def test_encoder_prices_the_basis_at_the_packages_lambda(tiny_klt_package):
    from onboard.encoder import klt_error_price, klt_min_std

    cube = low_rank_cube(h=64, w=64, c=40)
    price = klt_error_price(tiny_klt_package)
    assert price == pytest.approx(tiny_klt_package.lmbda * 255.0 ** 2)
    coded = onboard.encode_image(cube, tiny_klt_package, tile=64, klt_components=3)
    assert coded.header.spectral == fit_klt(cube, n_components=3, bits_per_unit_error=price,
                                            min_std=klt_min_std(tiny_klt_package))


def test_klt_mode_beats_band_clusters_on_a_correlated_cube(tiny_klt_package):
    """The same (untrained) network per plane: 3 components instead of 40 bands cost far fewer bits."""
    cube = low_rank_cube(h=64, w=64, c=40)
    klt = onboard.encode_image(cube, tiny_klt_package, tile=64, klt_components=3)
    bands = onboard.encode_image(cube, tiny_klt_package, tile=64, spectral="none")
    assert klt.nbytes < 0.3 * bands.nbytes  # quality is the trained zoo's test (test_zoo.py)


def test_lost_component_chunk_degrades_only_its_tile(tiny_klt_package):
    cube = low_rank_cube(h=64, w=128, c=20)
    coded = onboard.encode_image(cube, tiny_klt_package, tile=64, klt_components=3)
    full = ground.decode_image(coded, tiny_klt_package)
    lost = CodedScene(coded.header, [c for c in coded.chunks if c.index != 1])  # tile 0, component 1
    res = decode_scene(lost, tiny_klt_package)
    assert res.chunk_status[1] == STATUS_MISSING and len(res.lost_chunks) == 1
    assert not res.pixel_valid[:, :64].any() and res.pixel_valid[:, 64:].all()
    assert np.array_equal(res.image[:, 64:], full[:, 64:])  # the other tile is untouched


def test_klt_mode_errors_name_the_problem(tiny_package, tiny_klt_package):
    cube = low_rank_cube(c=6)
    with pytest.raises(UnsupportedInputError, match="image package"):
        onboard.encode_image(cube[:, :, :3], tiny_package, spectral="klt")
    with pytest.raises(UnsupportedInputError, match="klt_components"):
        onboard.encode_image(cube, tiny_klt_package, klt_components=7)
    with pytest.raises(ValueError, match="spectral"):
        onboard.encode_image(cube, tiny_klt_package, spectral="pca")


def test_module_docstring_example_holds():
    import doctest

    import onboard.spectral

    result = doctest.testmod(onboard.spectral)
    assert result.attempted > 0 and result.failed == 0


def test_automatic_k_keeps_more_components_at_higher_rate_down_to_the_floor():
    from types import SimpleNamespace

    from onboard.encoder import KLT_CODEC_FLOOR_STD, klt_min_std

    def pkg(lam):
        return SimpleNamespace(manifest={}, lmbda=lam)

    stds = [klt_min_std(pkg(lam)) for lam in (0.001, 0.004, 0.016, 0.064, 1.0)]
    assert stds == sorted(stds, reverse=True) and stds[0] > stds[-1] == KLT_CODEC_FLOOR_STD
    assert abs(stds[1] - 2 * stds[2]) < 1e-12  # sqrt of the water level: 4x lambda halves the threshold
    assert klt_min_std(SimpleNamespace(manifest={}, lmbda=None)) == KLT_CODEC_FLOOR_STD  # no lambda: the floor
