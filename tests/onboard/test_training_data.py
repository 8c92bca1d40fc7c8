"""Training crops: how the image crops draw their image, shapes and value range (numpy only, no torch)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from onboard.models.data import CropSampler


@pytest.fixture()
def two_sizes(tmp_path):
    """One 64x64 tile and one 256x256 scene (random texture, so crops of the scene never equal the tile)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 100, (64, 64, 3), dtype=np.uint8)
    large = rng.integers(150, 256, (256, 256, 3), dtype=np.uint8)
    paths = []
    for name, arr in (("tile.png", small), ("scene.png", large)):
        Image.fromarray(arr).save(tmp_path / name)
        paths.append(tmp_path / name)
    return paths


def _tile_share(sampler: CropSampler, n: int = 3000) -> float:
    """Share of crops that are the whole 64x64 tile (rotated or flipped: same sorted values)."""
    tile = np.sort(sampler.images[0].ravel())
    crops = sampler.sample(n, np.random.default_rng(2))
    return float(np.mean([np.array_equal(np.sort(c.ravel()), tile) for c in crops]))


def test_area_sampling_draws_images_by_pixel_count(two_sizes):
    sampler = CropSampler(two_sizes, bands=3, crop=64, sampling="area")
    assert sampler.images[0].shape[:2] == (64, 64)
    assert np.allclose(sampler.probabilities, [1 / 17, 16 / 17])  # 64^2 : 256^2
    assert abs(_tile_share(sampler) - 1 / 17) < 0.015


def test_image_sampling_draws_images_uniformly(two_sizes):
    sampler = CropSampler(two_sizes, bands=3, crop=64, sampling="image")
    assert np.allclose(sampler.probabilities, [0.5, 0.5])
    assert abs(_tile_share(sampler) - 0.5) < 0.04


def test_crops_are_normalised_and_shaped(two_sizes):
    crops = CropSampler(two_sizes, bands=3, crop=64).sample(16, np.random.default_rng(0))
    assert crops.shape == (16, 3, 64, 64) and crops.dtype == np.float32
    assert crops.min() >= 0.0 and crops.max() <= 1.0


def test_unknown_sampling_is_a_clear_error(two_sizes):
    with pytest.raises(ValueError, match="sampling must be"):
        CropSampler(two_sizes, bands=3, crop=64, sampling="balanced")


def test_no_usable_image_is_a_clear_error(two_sizes):
    with pytest.raises(ValueError, match="no usable 3-band image of at least 512x512"):
        CropSampler(two_sizes, bands=3, crop=512)


def test_klt_crops_favour_strong_components_and_flip_signs(tmp_path):
    from onboard.models.data import CubeCropSampler

    rng = np.random.default_rng(0)
    base = rng.integers(0, 2000, (64, 64, 2))
    cube = (base[:, :, :1] * np.linspace(1, 2, 12) + base[:, :, 1:] * np.linspace(1, 0, 12)
            + rng.integers(0, 20, (64, 64, 12))).astype(np.uint16)
    np.savez(tmp_path / "c.npz", data=cube)
    s = CubeCropSampler([(tmp_path / "c.npz", [])], 1, 64, spectral="klt", klt_components=8)
    assert s.cubes[0].shape == (64, 64, 8)
    draws = [int(s._components(8, np.random.default_rng(i))[0]) for i in range(2000)]
    counts = np.bincount(draws, minlength=8)
    assert counts[0] > counts[1] > counts[7] > 0  # p ~ 1/(k + 1)
    x = s.sample(64, np.random.default_rng(1))
    assert x.shape == (64, 1, 64, 64) and x.min() >= 0.0 and x.max() <= 1.0
    strong = s.cubes[0][:, :, 0]
    means = [float(c.mean()) for c in x[:, 0] if abs(float(c.std()) - float(strong.std())) < 1e-4]
    assert any(abs(m - strong.mean()) < 1e-4 for m in means) and any(abs(m - (1 - strong.mean())) < 1e-4
                                                                      for m in means)
    with pytest.raises(ValueError, match="spectral"):
        CubeCropSampler([(tmp_path / "c.npz", [])], 1, 64, spectral="pca")


def test_pseudo_components_look_like_klt_planes():
    """Pseudo-components of RGB crops: one band, in [0, 1], centred on 0.5; leading-like ones (all-positive
    weights) span most of the range, the others are weak; both signs occur."""
    from onboard.models.data import PseudoComponentSampler

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:96]
    img = np.stack([np.sin(yy / 7.0), np.cos(xx / 5.0), np.sin((xx + yy) / 9.0)], axis=-1) * 0.5 + 0.5
    s = PseudoComponentSampler([img.astype(np.float32)], crop=64)
    x = s.sample(400, rng)
    assert x.shape == (400, 1, 64, 64) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    ranges = x.reshape(400, -1).max(axis=1) - x.reshape(400, -1).min(axis=1)
    mids = 0.5 * (x.reshape(400, -1).max(axis=1) + x.reshape(400, -1).min(axis=1))
    assert np.allclose(mids, 0.5, atol=1e-5)
    strong, weak = np.mean(ranges >= 0.6 - 1e-6), np.mean(ranges < 0.6)
    assert 0.4 < strong < 0.6 and 0.4 < weak < 0.6 and ranges.min() >= 0.02 - 1e-6
    corr = [np.corrcoef(p.ravel(), img[:64, :64].mean(axis=-1).ravel())[0, 1] for p in x[:50, 0]]
    assert min(corr) < -0.1 and max(corr) > 0.1  # u and 1 - u both drawn (plus rotations)
    with pytest.raises(ValueError, match="pseudo-components"):
        PseudoComponentSampler([img[:32, :32]], crop=64)


def test_mixed_sampler_draws_each_source_at_its_share():
    from onboard.models.data import MixedSampler

    class Const:
        def __init__(self, v):
            self.v = v

        def sample(self, n, rng):
            return np.full((n, 1, 4, 4), self.v, np.float32)

    x = MixedSampler(Const(0.0), Const(1.0), 0.25).sample(4000, np.random.default_rng(0))
    assert x.shape == (4000, 1, 4, 4) and abs(float(x[:, 0, 0, 0].mean()) - 0.25) < 0.02
    assert set(np.unique(x)) == {0.0, 1.0}
    with pytest.raises(ValueError, match="share"):
        MixedSampler(Const(0.0), Const(1.0), 1.5)


@pytest.fixture()
def named_bands(tmp_path):
    """A data root with a manifest: one 3-band Landsat-style file stored blue first (B2 B3 B4), one 5-band
    file with a Sentinel-2 true-colour triple, one 4-band file with no visible triple, one plain RGB PNG."""
    import json

    rng = np.random.default_rng(5)
    bgr = rng.integers(0, 4000, (80, 80, 3), dtype=np.uint16)
    np.savez(tmp_path / "l8_b2b3b4.npz", data=bgr, bands=np.array(["B2", "B3", "B4"]))
    ms = rng.integers(0, 4000, (80, 80, 5), dtype=np.uint16)
    np.savez(tmp_path / "s2.npz", data=ms, bands=np.array(["B02", "B03", "B04", "B08", "B11"]))
    np.savez(tmp_path / "swir.npz", data=ms[:, :, :4], bands=np.array(["B05", "B06", "B07", "B8A"]))
    Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    entries = [{"file": "l8_b2b3b4.npz", "shape": [80, 80, 3], "purpose": "train"},
               {"file": "s2.npz", "shape": [80, 80, 5], "purpose": "train"},
               {"file": "swir.npz", "shape": [80, 80, 4], "purpose": "train"},
               {"file": "rgb.png", "shape": [80, 80, 3], "purpose": "train"}]
    (tmp_path / "manifest.json").write_text(json.dumps({"files": entries}))
    return tmp_path, bgr, ms


def test_true_colour_reads_named_bands_red_first_and_adds_composites(named_bands):
    from onboard.models.data import collect_files, load_image

    root, bgr, ms = named_bands
    plain = collect_files(root, bands=3)
    assert [p.name for p in plain] == ["l8_b2b3b4.npz", "rgb.png"]
    coloured = collect_files(root, bands=3, true_colour=True)
    assert [p.name for p in coloured] == ["l8_b2b3b4.npz", "rgb.png", "s2.npz"]  # no triple in swir.npz
    np.testing.assert_array_equal(load_image(root / "l8_b2b3b4.npz"), bgr)  # as stored without the option
    np.testing.assert_array_equal(load_image(root / "l8_b2b3b4.npz", true_colour=True), bgr[:, :, ::-1])
    np.testing.assert_array_equal(load_image(root / "s2.npz", true_colour=True), ms[:, :, [2, 1, 0]])
    np.testing.assert_array_equal(load_image(root / "swir.npz", true_colour=True), ms[:, :, :4])
    sampler = CropSampler(coloured, bands=3, crop=64, true_colour=True)
    assert len(sampler.images) == 3 and all(im.shape[-1] == 3 for im in sampler.images)
    # the first image is the Landsat-style file, normalised band by band in red, green, blue order
    red = bgr[:, :, 2].astype(np.float32)
    np.testing.assert_allclose(sampler.images[0][:, :, 0], (red - red.min()) / (red.max() - red.min()), rtol=1e-6)


def test_true_colour_indexes_module_examples():
    import doctest

    import onboard.models.data as data

    result = doctest.testmod(data)
    assert result.attempted >= 2 and result.failed == 0


@pytest.fixture()
def eight_and_sixteen_bits(tmp_path):
    """Two 8-bit tiles and one 16-bit scene (.npy) whose DN sit low in their range, as satellite DN do."""
    rng = np.random.default_rng(5)
    paths = []
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / f"t{i}.png")
        paths.append(tmp_path / f"t{i}.png")
    dn = rng.integers(5000, 9000, (128, 128, 3)).astype(np.uint16)
    dn[0, 0] = 50000
    np.save(tmp_path / "scene.npy", dn)
    return paths + [tmp_path / "scene.npy"]


def test_transfer_auto_puts_high_bit_depth_crops_through_the_encoder_curve(eight_and_sixteen_bits):
    from onboard.encoder import HIGH_BIT_DEPTH_EXPONENT, normalise
    from onboard.models.data import load_image

    linear = CropSampler(eight_and_sixteen_bits, bands=3, crop=64)
    auto = CropSampler(eight_and_sixteen_bits, bands=3, crop=64, transfer="auto")
    for i in range(2):  # 8-bit images: unchanged
        assert np.array_equal(linear.images[i], auto.images[i])
    arr = load_image(eight_and_sixteen_bits[2])
    ranges = [(int(arr[..., b].min()), int(arr[..., b].max())) for b in range(3)]
    # the crops are what the onboard encoder feeds g_a for the same scene
    assert np.allclose(auto.images[2], normalise(arr, ranges, HIGH_BIT_DEPTH_EXPONENT), atol=1e-6)
    assert auto.images[2].mean() > linear.images[2].mean()
    assert list(auto.high_bit_depth) == [False, False, True]


def test_high_bit_share_sets_the_share_of_crops_from_deep_images(eight_and_sixteen_bits):
    area = CropSampler(eight_and_sixteen_bits, bands=3, crop=64)
    assert np.isclose(area.probabilities[2], 128 * 128 / (128 * 128 + 2 * 64 * 64))
    share = CropSampler(eight_and_sixteen_bits, bands=3, crop=64, high_bit_share=0.25)
    assert np.allclose(share.probabilities, [0.375, 0.375, 0.25])
    with pytest.raises(ValueError, match="both 8 and more bits"):
        CropSampler(eight_and_sixteen_bits[:2], bands=3, crop=64, high_bit_share=0.25)
    with pytest.raises(ValueError, match="high_bit_share"):
        CropSampler(eight_and_sixteen_bits, bands=3, crop=64, high_bit_share=1.5)


def test_low_contrast_share_squeezes_that_share_of_crops_into_a_sub_range(two_sizes):
    from onboard.models.data import LOW_CONTRAST_MIN

    plain = CropSampler(two_sizes, bands=3, crop=64)
    squeezed = CropSampler(two_sizes, bands=3, crop=64, low_contrast_share=0.5)
    n = 400
    a, b = plain.sample(n, np.random.default_rng(3)), squeezed.sample(n, np.random.default_rng(3))
    # share 0 draws nothing more: a sampler without the option gives the recorded runs' crops
    assert np.array_equal(CropSampler(two_sizes, bands=3, crop=64, low_contrast_share=0.0)
                          .sample(n, np.random.default_rng(3)), a)
    assert b.min() >= 0.0 and b.max() <= 1.0
    # every crop of these random-texture images spans its band's whole normalised range; a squeezed one spans c
    assert np.ptp(a.reshape(n, 3, -1), axis=2).min() > 0.95
    spread = np.ptp(b.reshape(n, 3, -1), axis=2)
    low = spread.max(axis=1) < 0.95
    assert 0.4 < low.mean() < 0.6
    assert spread.min() >= LOW_CONTRAST_MIN * 0.95
    assert np.allclose(spread[low].std(axis=1), 0.0, atol=0.05)  # one contrast per crop, an offset per band
    with pytest.raises(ValueError, match="low_contrast_share"):
        CropSampler(two_sizes, bands=3, crop=64, low_contrast_share=-0.1)
