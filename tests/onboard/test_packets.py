"""Space packets, packetizer, TM frames, randomizer and downlink, against outside oracles and golden bytes."""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboard.container import Chunk, CodedScene, SceneHeader
from onboard.errors import CorruptStreamError
from onboard.packets import (
    ASM, FHP_IDLE, FHP_NO_PACKET_START, IDLE_APID, RECORD_CHUNK, RECORD_SCENE_HEADER, SECONDARY_HEADER_SIZE,
    SEQ_CONTINUATION, SEQ_FIRST, SEQ_LAST, SEQ_UNSEGMENTED, Downlinker, Framer, FrameEncoder, MasterChannel,
    SecondaryHeader, SequenceCounter, SpacePacket, TransferFrame, derandomize, downlink_frames,
    frames_from_packets, packetize, pn_sequence, randomize, rs_decode,
)
from onboard.packets.downlink import validate_frame_length
from onboard.packets.tm_frame import data_field_length

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "packet_vectors.json").read_text())


def make_scene(n_chunks: int = 6, seed: int = 0, max_len: int = 9000, scene_id: int = 7,
               cluster_bands: int = 0) -> CodedScene:
    rng = np.random.default_rng(seed)
    h = SceneHeader(scene_id=scene_id, height=64 * n_chunks, width=64, bands=1, dtype="uint16", bit_depth=12,
                    tile_h=64, tile_w=64, cluster_bands=cluster_bands, n_chunks=n_chunks,
                    package_id=rng.integers(0, 256, 32, dtype=np.uint8).tobytes(),
                    cuc_coarse=2_100_000_000, cuc_fine=4321)
    chunks = [Chunk(i, rng.integers(0, 256, int(rng.integers(1, max_len)), dtype=np.uint8).tobytes())
              for i in range(n_chunks)]
    return CodedScene(h, chunks)


def _bits(data: bytes, offset: int, length: int) -> int:
    return (int.from_bytes(data, "big") >> (8 * len(data) - offset - length)) & ((1 << length) - 1)


# --- space packets --------------------------------------------------------------------------------

packet_fields = st.fixed_dictionaries({
    "apid": st.integers(0, 0x7FE), "flags": st.integers(0, 3), "count": st.integers(0, 16383),
    "data": st.binary(min_size=0, max_size=300), "ptype": st.integers(0, 1), "sec": st.booleans(),
    "crc": st.booleans(),
})


@settings(max_examples=150, deadline=None)
@given(packet_fields)
def test_space_packet_bytes_equal_spacepackets(f):
    from spacepackets.ccsds.spacepacket import PacketType, SequenceFlags, SpacePacketHeader
    from spacepackets.ccsds.spacepacket import SpacePacket as RefPacket

    if not f["sec"] and not f["crc"] and not f["data"]:
        f["data"] = b"x"
    sec = SecondaryHeader(123456, 789, 42, 9, b"\x01\x02\x03\x04", RECORD_CHUNK) if f["sec"] else None
    ours = SpacePacket(apid=f["apid"], sequence_flags=f["flags"], sequence_count=f["count"], data=f["data"],
                       packet_type=f["ptype"], secondary_header=sec, has_crc=f["crc"])
    packed = ours.pack()
    body = f["data"]
    hdr = SpacePacketHeader(PacketType(f["ptype"]), apid=f["apid"], seq_count=f["count"],
                            data_len=ours.data_field_length - 1, sec_header_flag=f["sec"],
                            seq_flags=SequenceFlags(f["flags"]))
    ref = bytes(RefPacket(hdr, sec.pack() if sec else None, body).pack())
    if f["crc"]:
        import fastcrc  # spacepackets' own CRC dependency: an independent CRC-16/CCITT-FALSE
        assert fastcrc.crc16.ibm_3740(ref) == int.from_bytes(packed[-2:], "big")
        ref += packed[-2:]
    assert packed == ref
    assert SpacePacketHeader.unpack(packed).apid == f["apid"]
    assert SpacePacket.unpack(packed, has_crc=f["crc"]) == ours


def test_space_packet_unpack_rejects_damage():
    p = SpacePacket(apid=0x100, sequence_flags=SEQ_UNSEGMENTED, sequence_count=1, data=b"hello",
                    secondary_header=SecondaryHeader(1, 2, 3, 4, b"abcd", RECORD_CHUNK))
    raw = p.pack()
    with pytest.raises(CorruptStreamError, match="truncated"):
        SpacePacket.unpack(raw[:4])
    with pytest.raises(CorruptStreamError, match="length"):
        SpacePacket.unpack(raw[:-1])
    bad = bytearray(raw)
    bad[10] ^= 0x40
    with pytest.raises(CorruptStreamError, match="CRC"):
        SpacePacket.unpack(bytes(bad))
    ver = bytearray(raw)
    ver[0] |= 0x20
    with pytest.raises(CorruptStreamError, match="version"):
        SpacePacket.unpack(bytes(ver))
    with pytest.raises(CorruptStreamError):
        SpacePacket.unpack(b"")


def test_idle_packet_has_no_crc_by_default():
    from onboard.packets import idle_packet
    p = idle_packet(40, 3)
    assert p.apid == IDLE_APID == 0x7FF and len(p.pack()) == 40 and not p.has_crc
    assert SpacePacket.unpack(p.pack()) == p


def test_golden_space_packet():
    g = GOLDEN["space_packet"]
    sec = SecondaryHeader(cuc_coarse=0x7A1B2C3D, cuc_fine=0x8000, scene_id=42, chunk_index=7,
                          package_prefix=bytes.fromhex("DEADBEEF"), record_type=RECORD_CHUNK)
    pkt = SpacePacket(apid=0x100, sequence_flags=SEQ_FIRST, sequence_count=0x1234, data=b"CHUNKDATA",
                      secondary_header=sec)
    raw = bytes.fromhex(g["hex"])
    assert pkt.pack() == raw
    assert SpacePacket.unpack(raw) == pkt
    for f in g["fields"]:
        assert _bits(raw, f["bit_offset"], f["bit_length"]) == f["value"], f["field"]
    assert sum(f["bit_length"] for f in g["fields"]) == 8 * len(raw)


# --- ccsdspy reads our packet stream --------------------------------------------------------------

def test_ccsdspy_parses_packet_stream():
    import ccsdspy
    from ccsdspy import PacketArray, PacketField
    from ccsdspy.utils import split_by_apid, split_packet_bytes

    scene = make_scene(n_chunks=5, seed=3, max_len=6000)
    packets = packetize(scene, apid=0x123, max_packet_data=1000)
    stream = b"".join(p.pack() for p in packets)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = split_packet_bytes(io.BytesIO(stream))
    assert split == [p.pack() for p in packets]
    by_apid = split_by_apid(io.BytesIO(stream))
    ours = [p for p in packets if p.apid == 0x123]
    defn = ccsdspy.VariableLength([
        PacketField(name="coarse", data_type="uint", bit_length=32),
        PacketField(name="fine", data_type="uint", bit_length=16),
        PacketField(name="scene", data_type="uint", bit_length=32),
        PacketField(name="chunk", data_type="uint", bit_length=32),
        PacketField(name="prefix", data_type="uint", bit_length=32),
        PacketField(name="rtype", data_type="uint", bit_length=8),
        PacketArray(name="data", data_type="uint", bit_length=8, array_shape="expand"),
        PacketField(name="crc", data_type="uint", bit_length=16),
    ])
    res = defn.load(by_apid[0x123], include_primary_header=True)
    assert list(res["CCSDS_SEQUENCE_COUNT"]) == [p.sequence_count for p in ours]
    assert list(res["CCSDS_SEQUENCE_FLAG"]) == [p.sequence_flags for p in ours]
    assert set(res["coarse"]) == {2_100_000_000} and set(res["scene"]) == {7}
    assert list(res["chunk"]) == [p.secondary_header.chunk_index for p in ours]
    assert list(res["rtype"]) == [p.secondary_header.record_type for p in ours]
    assert [bytes(np.asarray(d, np.uint8)) for d in res["data"]] == [p.data for p in ours]
    assert list(res["crc"]) == [int.from_bytes(p.pack()[-2:], "big") for p in ours]


# --- packetizer -----------------------------------------------------------------------------------

def _records(packets):
    """Rebuild records from packets: list of (record_type, chunk_index, bytes)."""
    out, cur = [], None
    for p in packets:
        if p.apid == IDLE_APID:
            continue
        sec = p.secondary_header
        if p.sequence_flags == SEQ_UNSEGMENTED:
            assert cur is None
            out.append((sec.record_type, sec.chunk_index, p.data))
        elif p.sequence_flags == SEQ_FIRST:
            assert cur is None
            cur = [sec, p.data]
        else:
            assert cur is not None and cur[0] == sec
            cur[1] += p.data
            if p.sequence_flags == SEQ_LAST:
                out.append((sec.record_type, sec.chunk_index, cur[1]))
                cur = None
    assert cur is None
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 12), seed=st.integers(0, 10**6), max_len=st.sampled_from([5, 200, 3000, 20000]),
       mpd=st.sampled_from([7, 64, 1000, 4096]))
def test_packetize_records_rebuild_scene(n, seed, max_len, mpd):
    scene = make_scene(n, seed, max_len)
    packets = packetize(scene, max_packet_data=mpd)
    recs = _records(packets)
    headers = [r for r in recs if r[0] == RECORD_SCENE_HEADER]
    chunks = [r for r in recs if r[0] == RECORD_CHUNK]
    assert len(headers) == 3 and all(r[2] == scene.header.pack() for r in headers)
    assert [r[1] for r in headers] == [0, 1, 2]
    rebuilt = [Chunk.unpack(r[2])[0] for r in chunks]
    assert rebuilt == scene.chunks and [r[1] for r in chunks] == [c.index for c in scene.chunks]
    assert all(len(p.data) <= mpd for p in packets if p.apid != IDLE_APID)
    counts = [p.sequence_count for p in packets if p.apid != IDLE_APID]
    assert counts == [i % 16384 for i in range(len(counts))]
    # the header copies are separated by at least one frame length of other octets
    pos, starts, ends = 0, [], []
    for p in packets:
        if p.secondary_header is not None and p.secondary_header.record_type == RECORD_SCENE_HEADER:
            if p.sequence_flags in (SEQ_FIRST, SEQ_UNSEGMENTED):
                starts.append(pos)
            if p.sequence_flags in (SEQ_LAST, SEQ_UNSEGMENTED):
                ends.append(pos + p.packet_length)
        pos += p.packet_length
    assert all(starts[i + 1] - ends[i] >= 1115 for i in range(len(ends) - 1))
    first = packets[0].secondary_header
    assert first.record_type == RECORD_SCENE_HEADER and first.package_prefix == scene.header.package_id[:4]
    assert (first.cuc_coarse, first.cuc_fine) == (scene.header.cuc_coarse, scene.header.cuc_fine)


def test_segmentation_flags_and_sequence_wrap():
    scene = make_scene(1, seed=1, max_len=2)
    big = CodedScene(scene.header, [Chunk(0, bytes(range(256)) * 10)])  # 2572-octet record
    counter = SequenceCounter({0x100: 16382})
    packets = packetize(big, apid=0x100, max_packet_data=1000, seq_counter=counter)
    chunk_pkts = [p for p in packets if p.secondary_header and p.secondary_header.record_type == RECORD_CHUNK]
    assert [p.sequence_flags for p in chunk_pkts] == [SEQ_FIRST, SEQ_CONTINUATION, SEQ_LAST]
    counts = [p.sequence_count for p in packets if p.apid == 0x100]
    assert counts[:3] == [16382, 16383, 0]
    assert counter.peek(0x100) == (16382 + len(counts)) % 16384
    assert packetize(big, seq_counter=5)[0].sequence_count == 5


def test_packetize_rejects_bad_settings():
    scene = make_scene(1)
    with pytest.raises(ValueError):
        packetize(scene, apid=IDLE_APID)
    with pytest.raises(ValueError):
        packetize(scene, max_packet_data=0)
    with pytest.raises(ValueError):
        packetize(scene, header_copies=0)


# --- TM frames ------------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(scid=st.integers(0, 1023), vcid=st.integers(0, 7), mc=st.integers(0, 255), vc=st.integers(0, 255),
       fhp=st.integers(0, 0x7FF), ocf=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_frame_header_equals_spacepackets(scid, vcid, mc, vc, fhp, ocf, seed):
    from spacepackets.ccsds.tm_frame import TmTransferFrame

    data = np.random.default_rng(seed).integers(0, 256, data_field_length(1115, ocf), np.uint8).tobytes()
    f = TransferFrame(scid=scid, vcid=vcid, mc_count=mc, vc_count=vc, first_header_pointer=fhp, data=data,
                      ocf=b"\x01\x02\x03\x04" if ocf else None)
    raw = f.pack()
    assert len(raw) == 1115
    ref = TmTransferFrame.unpack(raw, 1115, has_error_control_field=True)  # checks the FECF itself
    h = ref.primary_header
    assert (h.master_channel_id.transfer_frame_version, h.master_channel_id.spacecraft_id, h.vc_id,
            h.ocf_flag, h.master_ch_frame_count, h.vc_frame_count) == (0, scid, vcid, ocf, mc, vc)
    s = h.frame_datafield_status
    assert (s.secondary_header_flag, s.sync_flag, s.packet_order_flag, s.segment_len_id,
            s.first_header_pointer) == (False, False, False, 0b11, fhp)
    assert ref.data_field == data and ref.pack() == raw
    assert TransferFrame.unpack(raw) == f


def test_frame_unpack_rejects_bad_fecf():
    f = TransferFrame(scid=1, vcid=1, mc_count=0, vc_count=0, first_header_pointer=0, data=bytes(1107))
    raw = bytearray(f.pack())
    raw[100] ^= 1
    with pytest.raises(CorruptStreamError, match="FECF"):
        TransferFrame.unpack(bytes(raw))
    with pytest.raises(CorruptStreamError):
        TransferFrame.unpack(b"\x00")


def test_golden_tm_frame():
    g = GOLDEN["tm_frame"]
    f = TransferFrame(scid=0x0A5, vcid=3, mc_count=0x11, vc_count=0x22, first_header_pointer=0x123,
                      data=bytes(range(256)) * 4 + bytes(83))
    raw = f.pack()
    assert raw.hex() == g["hex"] and raw[:6].hex() == g["header_hex"] and len(raw) == g["length"]
    for fld in g["fields"]:
        assert _bits(raw, fld["bit_offset"], fld["bit_length"]) == fld["value"], fld["field"]


def _vc_stream(frames, packets):
    """Check the first header pointers by re-walking the concatenated data fields."""
    stream = b"".join(f.data for f in frames)
    cap = len(frames[0].data)
    starts, pos = [], 0
    for p in packets:
        starts.append(pos)
        pos += p.packet_length
    for k, f in enumerate(frames):
        in_frame = [s - k * cap for s in starts if k * cap <= s < (k + 1) * cap]
        assert f.first_header_pointer == (in_frame[0] if in_frame else FHP_NO_PACKET_START)
    return stream


def test_framer_multiplexes_and_fills():
    scene = make_scene(4, seed=5, max_len=3000)
    packets = packetize(scene)
    frames = frames_from_packets(packets, vcid=2)
    assert all(len(f.pack()) == 1115 for f in frames)
    assert [f.vc_count for f in frames] == list(range(len(frames)))
    assert [f.mc_count for f in frames] == list(range(len(frames)))
    stream = _vc_stream(frames, packets)
    body = b"".join(p.pack() for p in packets)
    assert stream[:len(body)] == body
    tail = SpacePacket.unpack(stream[len(body):])  # the idle fill closes the last frame exactly
    assert tail.apid == IDLE_APID


@pytest.mark.parametrize("room", [1, 3, 6, 7, 8])
def test_framer_idle_fill_when_little_room(room):
    master = MasterChannel()
    framer = Framer(master, vcid=1)
    cap = framer.capacity
    p = SpacePacket(apid=5, sequence_flags=SEQ_UNSEGMENTED, sequence_count=0, data=bytes(cap - room - 8))
    assert p.packet_length == cap - room
    frames = framer.push(p) + framer.flush()
    stream = b"".join(f.data for f in frames)
    assert len(frames) == (1 if room >= 7 else 2)
    assert SpacePacket.unpack(stream[p.packet_length:]).apid == IDLE_APID
    assert framer.flush() == []


def test_virtual_channels_share_master_count():
    d = Downlinker()
    a = d.transfer_frames(packetize(make_scene(2, seed=1, scene_id=1)), vcid=1)
    b = d.transfer_frames(packetize(make_scene(2, seed=2, scene_id=2)), vcid=3)
    c = d.transfer_frames(packetize(make_scene(2, seed=3, scene_id=3)), vcid=1)
    assert [f.mc_count for f in a + b + c] == list(range(len(a + b + c)))
    assert [f.vc_count for f in a + c] == list(range(len(a + c)))
    assert [f.vc_count for f in b] == list(range(len(b)))


# --- randomizer, ASM, downlink --------------------------------------------------------------------

def test_randomizer_sequence_golden():
    g = GOLDEN["randomizer"]
    assert pn_sequence(4) == bytes([0xFF, 0x48, 0x0E, 0xC0])
    assert pn_sequence(32).hex() == g["first_octets_hex"]
    seq = pn_sequence(255 * 3)
    assert seq[:255] == seq[255:510] == seq[510:]  # period 255 bits -> 255 octets
    assert len(set(seq[i:i + 2] for i in range(254))) > 200
    assert ASM.hex() == g["asm_hex"] == "1acffc1d"
    data = bytes(range(200))
    assert derandomize(randomize(data)) == data


def test_randomizer_matches_bitwise_recurrence():
    # h(x) = x^8 + x^7 + x^5 + x^3 + 1  <=>  s[n] = s[n-1] ^ s[n-3] ^ s[n-5] ^ s[n-8], first 8 bits all ones
    s = [1] * 8
    while len(s) < 8 * 300:
        n = len(s)
        s.append(s[n - 1] ^ s[n - 3] ^ s[n - 5] ^ s[n - 8])
    assert np.packbits(s).tobytes() == pn_sequence(300)


def test_downlink_frames_defaults_and_layout():
    scene = make_scene(3, seed=9, max_len=2500)
    cadus = downlink_frames(scene)
    assert all(len(c) == 4 + 1275 for c in cadus) and all(c[:4] == ASM for c in cadus)
    frames = []
    for c in cadus:
        msg, corrected = rs_decode(derandomize(c[4:]), interleave=5)
        assert corrected == 0
        frames.append(TransferFrame.unpack(msg))
    assert [f.vc_count for f in frames] == list(range(len(frames)))
    assert {(f.scid, f.vcid) for f in frames} == {(0x0A5, 1)}
    # without randomization the codeblock begins with the frame header
    plain = downlink_frames(scene, randomize=False)
    assert plain[0][4:4 + 6] == frames[0].pack()[:6]


def test_downlink_virtual_fill_and_validation():
    assert validate_frame_length(1115, 5) == 0
    assert validate_frame_length(892, 4) == 0
    assert validate_frame_length(1000, 5) == 23
    for bad in [(1116, 5), (1120, 5), (2000, 8 + 1)]:
        with pytest.raises(ValueError):
            validate_frame_length(*bad)
    scene = make_scene(2, seed=2, max_len=500)
    cadus = downlink_frames(scene, frame_length=1000, interleave=5)
    assert {len(c) for c in cadus} == {4 + 1000 + 160}
    msg, _ = rs_decode(derandomize(cadus[0][4:]), interleave=5)
    assert len(msg) == 1000
    with pytest.raises(ValueError):
        downlink_frames(scene, frame_length=1116)


def test_downlinker_counters_continue_across_scenes():
    d = Downlinker()
    enc = FrameEncoder()
    out = d.downlink(make_scene(2, seed=1, scene_id=1)) + d.downlink(make_scene(2, seed=2, scene_id=2),
                                                                     flush=False)
    out += d.flush()
    frames = [TransferFrame.unpack(rs_decode(derandomize(c[4:]), 5)[0]) for c in out]
    assert [f.mc_count for f in frames] == [i % 256 for i in range(len(frames))]
    assert d.seq_counter.peek(0x100) > 0
    idle = TransferFrame.unpack(rs_decode(derandomize(d.idle_cadu()[4:]), 5)[0])
    assert idle.first_header_pointer == FHP_IDLE and idle.vcid == 7
    assert enc.cadu_length == 1279


def test_secondary_header_size_constant():
    assert SECONDARY_HEADER_SIZE == 19
    sec = SecondaryHeader(1, 2, 3, 4, b"wxyz", RECORD_SCENE_HEADER)
    assert SecondaryHeader.unpack(sec.pack()) == sec
    with pytest.raises(ValueError):
        SecondaryHeader(1, 2, 3, 4, b"abc")


@pytest.mark.parametrize("name", ["onboard.packets.space_packet", "onboard.packets.packetizer",
                                  "onboard.packets.tm_frame", "onboard.packets.reed_solomon",
                                  "onboard.packets.randomizer", "onboard.packets.downlink"])
def test_module_doctests(name):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_front_door_is_lazy_and_complete():
    import onboard
    assert onboard.packets.downlink_frames is downlink_frames
    for name in ["SpacePacket", "SecondaryHeader", "packetize", "TransferFrame", "rs_encode", "rs_decode",
                 "randomize", "derandomize", "ASM", "downlink_frames", "UncorrectableError", "Downlinker",
                 "FrameEncoder", "frames_from_packets"]:
        assert hasattr(onboard.packets, name), name
