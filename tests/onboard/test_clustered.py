"""The channel-clustered codec on a tiny exported package (B = 4): any band count, signed data, losses."""
from __future__ import annotations

import numpy as np
import pytest

import ground
import onboard
from ground.decoder import STATUS_MISSING, decode_scene
from ground.verify import verify_variant
from onboard.container import CodedScene
from onboard.encoder import correlation_order
from onboard.errors import UnsupportedInputError


def cube(h, w, c, dtype=np.uint16, seed=0, signed_offset=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    spectra = np.linspace(0.3, 1.0, c)[None, None, :] * (1 + 0.2 * np.sin(np.arange(c) / 5.0))
    base = (2000 + 1500 * np.sin(yy / 7.0)[:, :, None] * np.cos(xx / 9.0)[:, :, None]) * spectra
    return (base + rng.normal(0, 30, base.shape) - signed_offset).astype(dtype)


@pytest.mark.parametrize("c", [1, 3, 4, 10, 37])
def test_any_band_count_round_trips_bit_exactly(tiny_clustered_package, c):
    img = cube(70, 90, c)
    coded = onboard.encode_image(img, tiny_clustered_package, tile=64)
    n_clusters = -(-c // 4)
    assert coded.header.n_chunks == 2 * 2 * n_clusters and coded.header.cluster_bands == 4
    out = ground.decode_image(coded.to_bytes(), tiny_clustered_package)
    assert out.shape == img.shape and out.dtype == img.dtype
    rep = verify_variant(img, tiny_clustered_package, "int8", tile=64)
    assert rep.ok, rep


def test_signed_int16_reflectance(tiny_clustered_package):
    img = cube(64, 64, 9, dtype=np.int16, signed_offset=2200)
    assert img.min() < 0
    coded = onboard.encode_image(img, tiny_clustered_package, tile=64)
    h = CodedScene.from_bytes(coded.to_bytes()).header
    assert h.dtype == "int16" and h.band_ranges[0][0] < 0
    out = ground.decode_image(coded, tiny_clustered_package)
    assert out.dtype == np.int16 and out.min() >= img.min()


def test_correlation_clustering_is_sent_and_undone(tiny_clustered_package):
    rng = np.random.default_rng(3)
    img = cube(64, 64, 8)[:, :, rng.permutation(8)]  # bands shuffled: neighbours are no longer similar
    order = correlation_order(img)
    assert sorted(order) == list(range(8))
    coded = onboard.encode_image(img, tiny_clustered_package, tile=64, band_order="correlation")
    back = CodedScene.from_bytes(coded.to_bytes())
    assert back.header.band_order == order
    a = ground.decode_image(back, tiny_clustered_package)
    assert a.shape == img.shape
    plain = ground.decode_image(onboard.encode_image(img, tiny_clustered_package, tile=64), tiny_clustered_package)
    assert a.shape == plain.shape


def test_lost_chunk_costs_one_cluster_of_one_tile(tiny_clustered_package):
    img = cube(128, 128, 10)
    coded = onboard.encode_image(img, tiny_clustered_package, tile=64)
    clean = decode_scene(coded, tiny_clustered_package, conceal=False)
    lost = coded.header.chunk_index(1, 0, 1)  # tile (1, 0), bands 4..7
    res = decode_scene(CodedScene(coded.header, [c for c in coded.chunks if c.index != lost]),
                       tiny_clustered_package, conceal=False)
    assert res.chunk_status[lost] == STATUS_MISSING and res.lost_chunks == [lost]
    invalid = ~res.pixel_valid
    assert invalid[64:, :64, 4:8].all() and invalid.sum() == 64 * 64 * 4
    keep = res.pixel_valid
    assert np.array_equal(res.image[keep], clean.image[keep])


def test_image_package_refuses_a_cube(tiny_package):
    with pytest.raises(UnsupportedInputError, match="189 band"):
        onboard.encode_image(cube(32, 32, 189), tiny_package)


def test_manifest_says_clustered(tiny_clustered_package, tiny_package):
    assert tiny_clustered_package.cluster_bands == 4 and tiny_package.cluster_bands is None


def test_container_overhead_of_a_small_hyperspectral_cube(tiny_clustered_package):
    """What the container adds around the payloads of a 50 x 50 x 189 cube: the 72-octet scene header, 4 octets
    of range per band (+2 CRC) and at most 7 octets per (tile, cluster) chunk record. At 0.1 bpppb the whole
    cube may take 5906 octets; the overhead must leave room for the payload."""
    img = cube(50, 50, 189)
    coded = onboard.encode_image(img, tiny_clustered_package)
    payload = sum(len(c.payload) for c in coded.chunks)
    overhead = coded.nbytes - payload
    n = len(coded.chunks)
    assert n == 48  # one tile x ceil(189 / 4) clusters
    assert overhead <= 72 + 4 * 189 + 2 + 7 * n
    assert overhead < 0.25 * 50 * 50 * 189 * 0.1 / 8
