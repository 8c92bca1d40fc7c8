"""The coded-scene container: golden bytes, round trips, and fuzzing (only typed errors, never a crash)."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboard.container import Chunk, CodedScene, SceneHeader, read_uvarint, uvarint
from onboard.errors import CorruptStreamError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "container_v1.json"


GOLDEN_KLT = GOLDEN.with_name("container_v1_klt.json")


def _golden_module():
    spec = importlib.util.spec_from_file_location("mk", GOLDEN.with_name("make_container_golden.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _golden_scene():
    return _golden_module().scene()


def _golden():
    return _golden_module().klt_scene()


def test_golden_bytes_and_annotation():
    doc = json.loads(GOLDEN.read_text())
    data = _golden_scene().to_bytes()
    assert data.hex() == doc["container_hex"]
    for entry in doc["layout"]:  # the annotation covers every octet, in order
        assert data[entry["offset"]:entry["offset"] + entry["octets"]].hex() == entry["hex"]
    assert sum(e["octets"] for e in doc["layout"]) == len(data) == doc["nbytes"]
    back = CodedScene.from_bytes(bytes.fromhex(doc["container_hex"]))
    assert back == _golden_scene() and back.header.band_ranges == ((-50, 4000), (0, 6533))


def test_chunk_overhead_is_small():
    assert len(Chunk(5, bytes(300)).pack()) - 300 == 7  # 1 + 2 varint octets + CRC32


@given(st.integers(0, 2**32 - 1))
def test_uvarint_round_trip(n):
    assert read_uvarint(uvarint(n)) == (n, len(uvarint(n)))


@given(st.lists(st.binary(max_size=300), max_size=6), st.integers(0, 2**32 - 1),
       st.one_of(st.none(), st.integers(1, 0xFFFF)))
@settings(max_examples=50, deadline=None)
def test_round_trip(payloads, scene_id, transfer_milli):
    h = SceneHeader(scene_id=scene_id, height=64, width=64 * max(1, len(payloads)), bands=1, dtype="uint8",
                    bit_depth=8, tile_h=64, tile_w=64, cluster_bands=0, n_chunks=max(1, len(payloads)),
                    package_id=bytes(32), band_ranges=((0, 255),), transfer_milli=transfer_milli)
    s = CodedScene(h, [Chunk(i, p) for i, p in enumerate(payloads)])
    assert CodedScene.from_bytes(s.to_bytes()) == s


@given(st.binary(max_size=400))
@settings(max_examples=200, deadline=None)
def test_random_bytes_give_only_typed_errors(data):
    try:
        CodedScene.from_bytes(data)
    except CorruptStreamError:
        pass


@given(st.integers(0, 10_000), st.integers(0, 7))
@settings(max_examples=200, deadline=None)
def test_any_flipped_bit_is_caught(pos, bit):
    data = bytearray(_golden_scene().to_bytes())
    pos %= len(data)
    data[pos] ^= 1 << bit
    with pytest.raises(CorruptStreamError):
        CodedScene.from_bytes(bytes(data))


def test_truncations_are_typed_errors():
    data = _golden_scene().to_bytes()
    for n in range(len(data)):
        try:
            CodedScene.from_bytes(data[:n])
        except CorruptStreamError:
            continue
        # a cut exactly between chunk records is a valid container with fewer chunks
        assert len(CodedScene.from_bytes(data[:n]).chunks) < 2


@pytest.mark.parametrize("golden_name, make", [("container_v1_klt.json", "klt_scene"),
                                               ("container_v1_klt_shift.json", "klt_shift_scene")])
def test_golden_container_with_a_klt_table(golden_name, make):
    import zlib

    expected = getattr(_golden_module(), make)()
    doc = json.loads(GOLDEN.with_name(golden_name).read_text())
    golden = bytes.fromhex(doc["container_hex"])
    for entry in doc["layout"]:  # the annotation covers every octet, in order
        assert golden[entry["offset"]:entry["offset"] + entry["octets"]].hex() == entry["hex"]
    assert sum(e["octets"] for e in doc["layout"]) == len(golden) == doc["nbytes"]
    back = CodedScene.from_bytes(golden)  # the decoder reads the recorded bytes exactly
    assert back == expected and back.header.band_ranges is None
    k = expected.header.spectral.n_components
    assert back.header.coded_bands == k and back.header.n_clusters == k
    data = expected.to_bytes()
    # the table's DEFLATE octets are zlib's choice: any inflater reads them, but another zlib build may
    # deflate differently; the encoder's bytes are pinned for the zlib the vector was made with
    if zlib.ZLIB_RUNTIME_VERSION == doc["zlib_version"]:
        assert data == golden
    assert CodedScene.from_bytes(data) == back


def test_golden_container_with_a_transfer_table():
    expected = _golden_module().transfer_scene()
    doc = json.loads(GOLDEN.with_name("container_v1_transfer.json").read_text())
    golden = bytes.fromhex(doc["container_hex"])
    for entry in doc["layout"]:
        assert golden[entry["offset"]:entry["offset"] + entry["octets"]].hex() == entry["hex"]
    assert sum(e["octets"] for e in doc["layout"]) == len(golden) == doc["nbytes"]
    assert golden[5] == 0x11  # flags: band ranges + transfer
    assert expected.to_bytes() == golden
    back = CodedScene.from_bytes(golden)
    assert back == expected and back.header.transfer_exponent == 0.7
    # the transfer table is the header's last part: its damage is a typed error, not a linear decode
    end = len(SceneHeader.unpack(golden)[0].pack())
    for pos in (end - 4, end - 1):
        bad = bytearray(golden)
        bad[pos] ^= 0x01
        with pytest.raises(CorruptStreamError, match="transfer table CRC"):
            CodedScene.from_bytes(bytes(bad))


def test_a_transfer_needs_band_ranges_and_a_positive_exponent():
    h = _golden_module().transfer_scene().header
    with pytest.raises(ValueError, match="needs band ranges"):
        dataclasses.replace(h, band_ranges=None)
    for bad in (0, 0x10000):
        with pytest.raises(ValueError, match="transfer exponent"):
            dataclasses.replace(h, transfer_milli=bad)
    assert dataclasses.replace(h, transfer_milli=None).transfer_exponent == 1.0


def test_unknown_header_flags_are_refused():
    data = bytearray(_golden().to_bytes())
    data[5] |= 0x40
    import binascii

    data[70:72] = binascii.crc_hqx(bytes(data[:70]), 0xFFFF).to_bytes(2, "big")
    with pytest.raises(CorruptStreamError, match="flags"):
        CodedScene.from_bytes(bytes(data))


# --- salvage: a damaged chunk record costs that chunk ---------------------------------------------------------
def _scene_of(payloads):
    h = SceneHeader(scene_id=3, height=64, width=64 * len(payloads), bands=1, dtype="uint8", bit_depth=8,
                    tile_h=64, tile_w=64, cluster_bands=0, n_chunks=len(payloads), package_id=bytes(32),
                    band_ranges=((0, 255),))
    return CodedScene(h, [Chunk(i, p) for i, p in enumerate(payloads)])


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=6))
@settings(max_examples=50, deadline=None)
def test_salvage_of_an_intact_container_is_from_bytes(payloads):
    s = _scene_of(payloads)
    assert CodedScene.salvage(s.to_bytes()) == (s, [])


@given(st.lists(st.binary(min_size=1, max_size=300), min_size=2, max_size=6), st.data())
@settings(max_examples=200, deadline=None)
def test_salvage_loses_only_the_damaged_record(payloads, data):
    """Overwrite any stretch inside one chunk record (index, length, CRC or payload octets) with anything:
    every other chunk comes back intact and nothing that was not sent is invented."""
    s = _scene_of(payloads)
    raw = bytearray(s.to_bytes())
    victim = data.draw(st.integers(0, len(payloads) - 1))
    start = len(s.header.pack()) + sum(len(c.pack()) for c in s.chunks[:victim])
    size = len(s.chunks[victim].pack())
    a = data.draw(st.integers(start, start + size - 1))
    b = data.draw(st.integers(a + 1, start + size))
    junk = data.draw(st.binary(min_size=b - a, max_size=b - a))
    raw[a:b] = junk
    scene, damage = CodedScene.salvage(bytes(raw))
    kept = {c.index: c.payload for c in scene.chunks}
    for i, p in enumerate(payloads):
        if i != victim:
            assert kept[i] == p
    if bytes(raw) != s.to_bytes():
        assert victim not in kept or kept[victim] == payloads[victim]
        assert len(damage) == (victim not in kept)
        assert all(d.chunk in (victim, None) for d in damage)


def test_salvage_names_the_damaged_chunk_and_still_refuses_a_damaged_header():
    s = _scene_of([b"abc", bytes(50), b"xyz"])
    raw = bytearray(s.to_bytes())
    second = len(s.header.pack()) + len(s.chunks[0].pack())
    raw[second + 20] ^= 0x10  # a payload octet of chunk 1
    scene, damage = CodedScene.salvage(bytes(raw))
    assert [c.index for c in scene.chunks] == [0, 2] and scene.missing_chunks == [1]
    assert len(damage) == 1 and damage[0].chunk == 1 and damage[0].offset == second
    assert "CRC32" in damage[0].reason
    with pytest.raises(CorruptStreamError):  # strict parsing is unchanged
        CodedScene.from_bytes(bytes(raw))
    raw[10] ^= 0x01  # the scene header
    with pytest.raises(CorruptStreamError, match="header"):
        CodedScene.salvage(bytes(raw))


@given(st.binary(max_size=400))
@settings(max_examples=200, deadline=None)
def test_salvage_of_random_bytes_gives_only_typed_errors(data):
    try:
        CodedScene.salvage(data)
    except CorruptStreamError:
        pass


def test_salvage_keeps_every_chunk_when_junk_follows_the_last_record():
    s = _scene_of([b"abc", bytes(50), b"xyz"])
    scene, damage = CodedScene.salvage(s.to_bytes() + bytes(40))  # e.g. a file padded to a block size
    assert scene == s
    assert len(damage) == 1 and damage[0].chunk is None and damage[0].offset == len(s.to_bytes())
