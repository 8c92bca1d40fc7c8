"""Ground segment at scale: recordings -> products, losses, updates in place, bad input, Dask equality."""
from __future__ import annotations

import numpy as np
import pytest

import onboard
from ground.decoder import STATUS_CONCEALED, STATUS_RECEIVED, decode_image
from ground.pipeline import decode_recordings
from ground.products import read_product
from onboard.packets import downlink_frames, packetize
from onboard.packets.space_packet import RECORD_CHUNK
from onboard.packets.tm_frame import DEFAULT_FRAME_LENGTH, FECF_SIZE, FRAME_HEADER_SIZE
from sim.channel import corrupt_frame
from tools.cli import main as satcomp

FRAME_DATA = DEFAULT_FRAME_LENGTH - FRAME_HEADER_SIZE - FECF_SIZE


def scene_image(h=256, w=384, seed=3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(yy / 9.0 + b) * np.cos(xx / 13.0) for b in range(3)], -1)
    return np.clip(120 + 90 * base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def coded(tiny_package):
    # plain dead-zone rounding (rd_weight=0): the untrained tiny package's RD choice zeroes most of its latent
    # and the scene would shrink to 3 frames; these tests need several frames to lose
    return onboard.encode_image(scene_image(), tiny_package, tile=64, scene_id=77, rd_weight=0.0)


def chunks_hit_by_frame(scene, k: int) -> set[int]:
    """Chunks with a packet overlapping the data field of frame k (packets laid back to back from frame 0)."""
    pos, lost = 0, set()
    lo, hi = k * FRAME_DATA, (k + 1) * FRAME_DATA
    for p in packetize(scene):
        n = p.packet_length
        if pos < hi and pos + n > lo and p.secondary_header is not None \
                and p.secondary_header.record_type == RECORD_CHUNK:
            lost.add(p.secondary_header.chunk_index)
        pos += n
    return lost


def test_end_to_end_losses_and_bit_errors(tiny_package, coded, tmp_path):
    frames = downlink_frames(coded)
    assert len(frames) >= 5
    rng = np.random.default_rng(0)
    drop = 2
    rec = [corrupt_frame(f, 2e-4, rng) if i % 2 else f for i, f in enumerate(frames) if i != drop]
    (tmp_path / "pass1.bin").write_bytes(b"\x00junk\xff" * 50 + b"".join(rec) + b"trailing garbage")
    rc = satcomp(["decode", str(tmp_path / "pass1.bin"), "--out", str(tmp_path / "out"),
                  "--packages", str(tiny_package.path.parent), "--no-progress"])
    assert rc == 0
    prod = read_product(tmp_path / "out" / "scene_00000077.h5")
    expected_lost = chunks_hit_by_frame(coded, drop)
    assert expected_lost  # the dropped frame carried chunk data
    lost = set(np.flatnonzero(prod["chunk_status"] != STATUS_RECEIVED).tolist())
    assert lost == expected_lost
    assert set(np.flatnonzero(prod["chunk_status"] == STATUS_CONCEALED).tolist()) == expected_lost
    clean = decode_image(coded, tiny_package)
    rows, cols = coded.header.n_tile_rows, coded.header.n_tile_cols
    for cid in range(rows * cols):
        r, c = divmod(cid, cols)
        sl = np.s_[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64]
        if cid in lost:
            assert prod["concealed_mask"][sl].all()
        else:
            assert np.array_equal(prod["reconstruction"][sl], clean[sl]), cid
            assert not prod["concealed_mask"][sl].any()
    assert prod["attrs"]["scene_id"] == 77 and prod["attrs"]["package_id"] == tiny_package.package_id


@pytest.mark.parametrize("drop", [0, 1, -1])
def test_losing_any_single_frame_keeps_the_scene(tiny_package, coded, tmp_path, drop):
    frames = downlink_frames(coded)
    k = drop % len(frames)
    del frames[k]
    (tmp_path / "rec.bin").write_bytes(b"".join(frames))
    rep = decode_recordings([tmp_path / "rec.bin"], tmp_path / "out", packages=[tiny_package.path.parent])
    assert rep.ok and len(rep.products) == 1  # the scene's metadata survived
    assert set(rep.scenes[0]["lost_chunks"]) == chunks_hit_by_frame(coded, k)


def test_later_pass_updates_the_product_in_place(tiny_package, coded, tmp_path):
    frames = downlink_frames(coded)
    first = [f for i, f in enumerate(frames) if i not in (1, 2)]
    (tmp_path / "a.bin").write_bytes(b"".join(first))
    out = tmp_path / "out"
    rep1 = decode_recordings([tmp_path / "a.bin"], out, packages=[tiny_package.path.parent])
    assert rep1.scenes[0]["lost_chunks"]
    (tmp_path / "b.bin").write_bytes(b"".join(frames))  # a later pass: everything again
    rep2 = decode_recordings([tmp_path / "b.bin"], out, packages=[tiny_package.path.parent])
    assert rep2.scenes[0]["lost_chunks"] == [] and rep2.products == rep1.products
    prod = read_product(out / "scene_00000077.h5")
    assert np.array_equal(prod["reconstruction"], decode_image(coded, tiny_package))
    assert (prod["chunk_status"] == STATUS_RECEIVED).all()


def test_bad_inputs_give_clear_messages_and_lose_nothing(tiny_package, coded, tmp_path, capsys):
    (tmp_path / "empty.bin").write_bytes(b"")
    assert satcomp(["decode", str(tmp_path / "empty.bin"), "--out", str(tmp_path / "o1"), "--no-progress"]) == 1
    assert "empty file" in capsys.readouterr().out
    (tmp_path / "garbage.bin").write_bytes(np.random.default_rng(1).bytes(20000))
    assert satcomp(["decode", str(tmp_path / "garbage.bin"), "--out", str(tmp_path / "o2"), "--no-progress"]) == 1
    assert "no scene found" in capsys.readouterr().out
    assert satcomp(["decode", str(tmp_path / "nope.bin"), "--out", str(tmp_path / "o3"), "--no-progress"]) == 2
    # unknown package: the container is saved, the exit status says so
    (tmp_path / "rec.bin").write_bytes(b"".join(downlink_frames(coded)))
    assert satcomp(["decode", str(tmp_path / "rec.bin"), "--out", str(tmp_path / "o4"), "--no-progress"]) == 1
    assert "no model package with id" in capsys.readouterr().out
    saved = tmp_path / "o4" / "undecoded" / "scene_00000077.scmp"
    assert onboard.container.CodedScene.from_bytes(saved.read_bytes()) == coded
    # truncated recording: what arrived is decoded
    data = b"".join(downlink_frames(coded))
    (tmp_path / "cut.bin").write_bytes(data[: len(data) * 2 // 3])
    rep = decode_recordings([tmp_path / "cut.bin"], tmp_path / "o5", packages=[tiny_package.path.parent])
    assert len(rep.products) == 1 and 0 < rep.scenes[0]["received"] < coded.header.n_chunks


def test_dask_cluster_products_equal_local_ones(tiny_package, coded, tmp_path):
    distributed = pytest.importorskip("distributed")
    frames = downlink_frames(coded)
    (tmp_path / "rec.bin").write_bytes(b"".join(f for i, f in enumerate(frames) if i != 3))
    local = decode_recordings([tmp_path / "rec.bin"], tmp_path / "local", packages=[tiny_package.path.parent])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = decode_recordings([tmp_path / "rec.bin"], tmp_path / "dask", packages=[tiny_package.path.parent],
                                   client=client)
    assert local.ok and remote.ok
    a = read_product(tmp_path / "local" / "scene_00000077.h5")
    b = read_product(tmp_path / "dask" / "scene_00000077.h5")
    for k in ("reconstruction", "chunk_status", "chunk_table", "concealed_mask"):
        assert np.array_equal(a[k], b[k]), k


def test_klt_cube_through_a_lossy_downlink_to_a_product(tiny_klt_package, tmp_path):
    """A KLT-coded cube (header with its KLT table repeated in the packet stream): one dropped frame costs
    the component chunks it carried, the product says spectral=klt, the rest decodes bit-exactly."""
    from tests.onboard.test_spectral import low_rank_cube

    cube = low_rank_cube(h=64, w=192, c=24)
    coded = onboard.encode_image(cube, tiny_klt_package, tile=64, scene_id=5, klt_components=3)
    frames = downlink_frames(coded)
    hit = None
    for k in range(len(frames)):
        lost = chunks_hit_by_frame(coded, k)
        if lost:
            hit = k, lost
            break
    assert hit is not None
    k, expected_lost = hit
    del frames[k]
    (tmp_path / "rec.bin").write_bytes(b"".join(frames))
    decode_recordings([tmp_path / "rec.bin"], tmp_path / "out", packages=[tiny_klt_package.path.parent])
    prod = read_product(tmp_path / "out" / "scene_00000005.h5")
    assert prod["attrs"]["spectral"] == "klt" and prod["attrs"]["klt_components"] == 3
    assert set(np.flatnonzero(prod["chunk_status"] != STATUS_RECEIVED).tolist()) == expected_lost
    clean = decode_image(coded, tiny_klt_package)
    lost_tiles = {cid // 3 for cid in expected_lost}
    for t in range(3):
        sl = np.s_[:, t * 64:(t + 1) * 64]
        if t not in lost_tiles:
            assert np.array_equal(prod["reconstruction"][sl], clean[sl]), t


def test_a_16_bit_scene_keeps_its_transfer_through_the_downlink_into_the_product(tiny_package, tmp_path):
    """The transfer table rides in the header the packets repeat: with the first frame lost, the product
    still decodes through the curve, says which exponent it used, and the received tiles equal a clean decode."""
    dn = (400 + 30 * scene_image(128, 192, seed=5).astype(np.uint16) ** 1.3).astype(np.uint16)
    coded = onboard.encode_image(dn, tiny_package, tile=64, scene_id=9, rd_weight=0.0)
    assert coded.header.transfer_milli == 800
    frames = downlink_frames(coded)
    lost = chunks_hit_by_frame(coded, 0)
    (tmp_path / "rec.bin").write_bytes(b"".join(frames[1:]))
    decode_recordings([tmp_path / "rec.bin"], tmp_path / "out", packages=[tiny_package.path.parent])
    prod = read_product(tmp_path / "out" / "scene_00000009.h5")
    assert prod["attrs"]["transfer_exponent"] == 0.8 and prod["reconstruction"].dtype == np.uint16
    clean = decode_image(coded, tiny_package)
    cols = coded.header.n_tile_cols
    for cid in range(coded.header.n_chunks):
        if cid not in lost:
            r, c = divmod(cid, cols)
            sl = np.s_[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64]
            assert np.array_equal(prod["reconstruction"][sl], clean[sl]), cid
