"""ground.recover: round trips, losses, and fuzzing (never raises, never hangs, never a wrong chunk)."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ground
from ground.depacketizer import RecoveredScene
from onboard.container import Chunk, CodedScene, SceneHeader
from onboard.errors import SceneHeaderLostError
from onboard.packets import (
    ASM, Downlinker, FrameEncoder, SpacePacket, TransferFrame, derandomize, downlink_frames, randomize, rs_decode,
)
from onboard.packets.space_packet import RECORD_SCENE_HEADER


def make_scene(n_chunks: int = 5, seed: int = 0, max_len: int = 3000, scene_id: int = 11,
               band_ranges: bool = False) -> CodedScene:
    rng = np.random.default_rng(seed)
    bands = 4 if band_ranges else 1
    h = SceneHeader(scene_id=scene_id, height=32, width=32 * n_chunks, bands=bands, dtype="uint8", bit_depth=8,
                    tile_h=32, tile_w=32, cluster_bands=0, n_chunks=n_chunks,
                    package_id=rng.integers(0, 256, 32, dtype=np.uint8).tobytes(), cuc_coarse=2_000_000_123,
                    band_ranges=tuple((0, 200 + b) for b in range(bands)) if band_ranges else None)
    chunks = [Chunk(i, rng.integers(0, 256, int(rng.integers(1, max_len)), dtype=np.uint8).tobytes())
              for i in range(n_chunks)]
    return CodedScene(h, chunks)


def frame_map(scene: CodedScene, **kw) -> tuple[list[bytes], dict[int, range], list[range]]:
    """CADUs of the scene and, per chunk index / per header copy, the frames its packets touch."""
    d = Downlinker(**kw)
    packets = d.packets(scene)
    cap = d.framer(1).capacity
    cadus = d.encoder.encode_many(d.transfer_frames(packets, vcid=1))
    chunk_frames: dict[int, range] = {}
    header_frames: list[range] = []
    pos = 0
    spans: dict[tuple[int, int], list[int]] = {}
    for p in packets:
        sec = p.secondary_header
        if sec is not None:
            spans.setdefault((sec.record_type, sec.chunk_index), [pos, pos])[1] = pos + p.packet_length
        pos += p.packet_length
    for (rtype, idx), (a, b) in spans.items():
        r = range(a // cap, (b - 1) // cap + 1)
        if rtype == RECORD_SCENE_HEADER:
            header_frames.append(r)
        else:
            chunk_frames[idx] = r
    return cadus, chunk_frames, header_frames


@functools.lru_cache(maxsize=None)
def fuzz_fixture():
    scene = make_scene(6, seed=42, max_len=4000)
    cadus, chunk_frames, header_frames = frame_map(scene)
    return scene, cadus, chunk_frames, header_frames


def assert_no_wrong_data(rec, scene: CodedScene) -> None:
    assert rec.internal_errors == []
    for sid, rs in rec.scenes.items():
        assert sid == scene.header.scene_id
        if rs.header is not None:
            assert rs.header == scene.header
        for i, ch in rs.chunks.items():
            assert ch == scene.chunks[i]


# --- round trips ----------------------------------------------------------------------------------

def test_clean_round_trip_list_and_stream():
    scene = make_scene(7, seed=1, max_len=9000)
    cadus = downlink_frames(scene)
    for inp in (cadus, b"".join(cadus), bytearray(b"".join(cadus)), [np.frombuffer(c, np.uint8) for c in cadus]):
        rec = ground.recover(inp)
        rs = rec.scenes[scene.header.scene_id]
        assert rs.to_coded_scene() == scene
        assert rs.missing == [] and rs.corrupted == set() and rs.header_copies == 3
        assert rec.frames_seen == rec.frames_ok == len(cadus)
        assert rec.garbage_bytes == 0 and rec.frame_gaps == 0 and rec.packets_crc_failed == 0
        assert rec.packet_sequence_gaps == 0 and rec.frames_uncorrectable == 0
    assert "7/7 chunks intact" in rec.report()


def test_lazy_front_door_names():
    assert ground.recover is __import__("ground.recovery", fromlist=["recover"]).recover
    assert ground.Recovery.__name__ == "Recovery"


@pytest.mark.parametrize("n_chunks,max_len,band_ranges", [(1, 5, False), (2, 300, True), (6, 2500, False),
                                                          (3, 12000, True)])
def test_losing_any_single_frame_keeps_the_scene_metadata(n_chunks, max_len, band_ranges):
    scene = make_scene(n_chunks, seed=n_chunks, max_len=max_len, band_ranges=band_ranges)
    cadus, chunk_frames, _ = frame_map(scene)
    for k in range(len(cadus)):
        rec = ground.recover(cadus[:k] + cadus[k + 1:])
        rs = rec.scenes[scene.header.scene_id]
        assert rs.header == scene.header, f"lost the header with frame {k} of {len(cadus)}"
        lost = {i for i, r in chunk_frames.items() if k in r}
        assert set(rs.missing) <= lost  # only the chunks the lost frame carried may be missing
        assert rec.frame_gaps == (1 if 0 < k < len(cadus) - 1 else 0)
        assert_no_wrong_data(rec, scene)


def test_header_lost_is_a_typed_error():
    rs = RecoveredScene(scene_id=3, chunks={0: Chunk(0, b"a")})
    assert rs.missing is None
    with pytest.raises(SceneHeaderLostError, match="scene 3"):
        rs.to_coded_scene()


def test_rs_corrections_and_asm_bit_errors_are_tolerated():
    scene = make_scene(4, seed=2)
    cadus = [bytearray(c) for c in downlink_frames(scene)]
    rng = np.random.default_rng(0)
    total = 0
    for c in cadus:
        for bit in rng.choice(32, 2, replace=False):  # 2 bit errors in every ASM
            c[bit // 8] ^= 1 << (bit % 8)
        for p in rng.choice(1275, 12, replace=False):  # 12 symbol errors per codeblock
            c[4 + p] ^= int(rng.integers(1, 256))
        total += 12
    rec = ground.recover([bytes(c) for c in cadus])
    assert rec.scenes[11].to_coded_scene() == scene
    assert rec.rs_corrected_symbols == total and rec.frames_uncorrectable == 0


def test_uncorrectable_frame_is_counted_and_dropped():
    scene = make_scene(5, seed=3)
    cadus, chunk_frames, _ = frame_map(scene)
    bad = bytearray(cadus[2])
    for p in range(4, 4 + 5 * 40):  # 40 consecutive symbols in every codeword
        bad[p] ^= 0xFF
    rec = ground.recover(cadus[:2] + [bytes(bad)] + cadus[3:])
    assert rec.frames_uncorrectable == 1 and rec.frame_gaps == 1 and rec.frames_ok == len(cadus) - 1
    assert set(rec.scenes[11].missing) <= {i for i, r in chunk_frames.items() if 2 in r}
    assert_no_wrong_data(rec, scene)


def test_fecf_failure_packet_crc_failure_and_gaps_are_counted():
    scene = make_scene(3, seed=4, max_len=600)
    d = Downlinker()
    frames = d.transfer_frames(d.packets(scene), vcid=1)
    raw = [bytearray(f.pack()) for f in frames]
    raw[1][50] ^= 0x01  # breaks the FECF of frame 1 (RS will happily encode it)
    enc = FrameEncoder()
    rec = ground.recover(enc.encode_many([bytes(r) for r in raw]))
    assert rec.frames_fecf_failed == 1 and rec.frame_gaps == 1

    # a packet with a bad CRC inside frames whose FECF is good
    d = Downlinker()
    packets = d.packets(scene)
    target = next(i for i, p in enumerate(packets) if p.secondary_header and p.secondary_header.chunk_index == 1
                  and p.secondary_header.record_type == 1)
    blobs = [p.pack() for p in packets]
    broken = bytearray(blobs[target])
    broken[-5] ^= 0x10
    blobs[target] = bytes(broken)
    rec = ground.recover(d.encode_packets(blobs))
    rs = rec.scenes[11]
    assert rec.packets_crc_failed == 1 and 1 not in rs.chunks and rs.header == scene.header
    assert set(rs.chunks) == {0, 2}
    assert rec.packet_sequence_gaps == 1


def test_continuous_stream_of_many_scenes_with_losses():
    scenes = [make_scene(4, seed=s, max_len=4000, scene_id=100 + s) for s in range(6)]
    d = Downlinker()
    cadus = []
    for i, s in enumerate(scenes):
        cadus += d.downlink(s, flush=False, vcid=1 + i % 2)
    cadus += d.flush()
    rng = np.random.default_rng(1)
    drop = set(rng.choice(len(cadus), 4, replace=False).tolist())
    rec = ground.recover([c for k, c in enumerate(cadus) if k not in drop])
    assert rec.frame_gaps == 4 and rec.internal_errors == []
    for s in scenes:
        rs = rec.scenes[s.header.scene_id]
        assert rs.header == s.header
        for i, ch in rs.chunks.items():
            assert ch == s.chunks[i]
    assert sum(len(rs.chunks) for rs in rec.scenes.values()) >= 24 - 4 * 2
    clean = ground.recover(cadus)
    assert all(clean.scenes[s.header.scene_id].to_coded_scene() == s for s in scenes)


def test_garbage_and_odd_inputs_never_raise():
    rng = np.random.default_rng(5)
    junk = rng.integers(0, 256, 50_000, np.uint8).tobytes()
    for inp in ([], b"", None, junk, [junk[:100], junk[100:]], ["not bytes", 3, None, b"\x1a\xcf"],
                "a string", ASM * 3000, (ASM + bytes(1275)) * 3, iter([b"abc"])):
        rec = ground.recover(inp)
        assert rec.scenes == {} and rec.internal_errors == []
        assert isinstance(rec.report(), str)
    rec = ground.recover(junk)
    assert rec.garbage_bytes == len(junk) and rec.frames_ok == 0
    rec = ground.recover((ASM + bytes(1275)) * 3)  # derandomizes to the PN sequence: not a codeword
    assert rec.frames_uncorrectable == 3 and rec.frames_ok == 0
    rec = ground.recover((ASM + randomize(bytes(1275))) * 3)  # the all-zero codeword: FECF fails
    assert rec.frames_fecf_failed == 3 and rec.frames_ok == 0 and rec.frames_uncorrectable == 0


def test_garbage_between_and_truncated_frames_in_a_stream():
    scene = make_scene(5, seed=6)
    cadus = downlink_frames(scene)
    rng = np.random.default_rng(2)
    parts = [rng.integers(0, 256, 333, np.uint8).tobytes()]
    for k, c in enumerate(cadus):
        parts.append(c)
        if k == 2:
            parts.append(cadus[3][:700])  # a truncated copy of the next frame
        if k == 4:
            parts.append(cadus[0][:-2])  # cut by 2 octets: still decodes, must not hide the next frame
        parts.append(rng.integers(0, 256, int(rng.integers(0, 50)), np.uint8).tobytes())
    rec = ground.recover(b"".join(parts))
    assert rec.scenes[11].to_coded_scene() == scene
    assert rec.frames_ok == len(cadus) and rec.garbage_bytes > 333


# --- fuzzing --------------------------------------------------------------------------------------

def _guaranteed_chunks(items, chunk_frames) -> set[int]:
    """Chunks whose frames reach the ground intact, first-seen, consecutively and in order."""
    seq = [(idx, intact) for kind, idx, intact in items if kind == "frame"]
    first: dict[int, tuple[int, bool]] = {}
    for pos, (idx, intact) in enumerate(seq):
        first.setdefault(idx, (pos, intact))
    out = set()
    for ci, r in chunk_frames.items():
        hits = [first.get(f) for f in r]
        if all(h is not None and h[1] for h in hits) and \
                all(hits[j + 1][0] == hits[j][0] + 1 for j in range(len(hits) - 1)):
            out.add(ci)
    return out


@st.composite
def damaged_recordings(draw):
    scene, cadus, chunk_frames, header_frames = fuzz_fixture()
    order = list(range(len(cadus)))
    mode = draw(st.sampled_from(["in_order", "shuffle", "swap"]))
    if mode == "shuffle":
        order = draw(st.permutations(order))
    elif mode == "swap":
        i = draw(st.integers(0, len(order) - 2))
        order[i], order[i + 1] = order[i + 1], order[i]
    items = []
    data = []
    for k in order:
        action = draw(st.sampled_from(["keep"] * 6 + ["drop", "dup", "flip", "many_flips", "truncate", "junk"]))
        c = cadus[k]
        if action == "drop":
            continue
        if action == "truncate":
            cut = draw(st.integers(0, len(c) - 1))
            # not junk: in a stream the bytes that follow fill the cut tail, and when the cut is short Reed-Solomon
            # corrects it back into frame k (found by hypothesis: frames 0 1 3 [2 cut] 4 gave 80 symbols
            # corrected and frame 2 recovered between 3 and 4), so it may take a place in the frame order
            items.append(("frame", k, False))
            data.append(c[:cut])
            continue
        if action in ("flip", "many_flips"):
            b = bytearray(c)
            n = draw(st.integers(1, 8)) if action == "flip" else draw(st.integers(20, 400))
            for _ in range(n):
                p = draw(st.integers(0, len(b) - 1))
                b[p] ^= 1 << draw(st.integers(0, 7))
            changed = bytes(b) != c
            items.append(("frame", k, not changed))
            data.append(bytes(b))
            continue
        items.append(("frame", k, True))
        data.append(c)
        if action == "dup":
            items.append(("frame", k, True))
            data.append(c)
        if action == "junk":
            items.append(("junk", -1, False))
            data.append(draw(st.binary(min_size=0, max_size=300)))
    as_stream = draw(st.booleans())
    return items, (b"".join(data) if as_stream else data)


@settings(max_examples=100, deadline=20_000, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(damaged_recordings())
def test_fuzz_recover_damaged_recordings(recording):
    items, inp = recording
    scene, cadus, chunk_frames, header_frames = fuzz_fixture()
    rec = ground.recover(inp)
    assert_no_wrong_data(rec, scene)
    expect = _guaranteed_chunks(items, chunk_frames)
    got = set(rec.scenes[11].chunks) if 11 in rec.scenes else set()
    assert expect <= got, f"lost chunks {sorted(expect - got)} whose frames were intact\n{rec.report()}"
    if _guaranteed_chunks(items, {h: r for h, r in enumerate(header_frames)}):
        assert rec.scenes[11].header == scene.header


@settings(max_examples=40, deadline=20_000)
@given(st.binary(min_size=0, max_size=20_000))
def test_fuzz_random_bytes(blob):
    rec = ground.recover(blob)
    assert rec.scenes == {} and rec.internal_errors == []
    assert rec.garbage_bytes <= len(blob)


@settings(max_examples=30, deadline=20_000)
@given(prefix=st.binary(max_size=2000), seed=st.integers(0, 2**16))
def test_fuzz_valid_frames_with_garbage_payloads(prefix, seed):
    # well-formed CADUs whose frames carry random data fields: exercise the packet layer on junk
    rng = np.random.default_rng(seed)
    enc = FrameEncoder()
    frames = []
    for k in range(6):
        fhp = int(rng.choice([0, 5, 100, 1106, 0x7FF, 0x7FE, 1500]))
        frames.append(TransferFrame(scid=0xA5, vcid=int(rng.integers(0, 8)), mc_count=k, vc_count=k,
                                    first_header_pointer=fhp,
                                    data=rng.integers(0, 256, 1107, np.uint8).tobytes()))
    # sprinkle plausible packet headers so packets are actually cut out
    pk = SpacePacket(apid=0x100, sequence_flags=3, sequence_count=1, data=bytes(rng.integers(0, 256, 50,
                                                                                              np.uint8)))
    frames.append(TransferFrame(scid=0xA5, vcid=1, mc_count=7, vc_count=7, first_header_pointer=0,
                                data=(pk.pack() * 30)[:1107]))
    rec = ground.recover(prefix + b"".join(enc.encode_many(frames)))
    assert rec.internal_errors == [] and rec.frames_ok == len(frames)
    assert all(not rs.chunks for rs in rec.scenes.values())


def test_decoded_frames_match_transmitted():
    scene = make_scene(3, seed=8)
    cadus = downlink_frames(scene)
    for c in cadus:
        msg, n = rs_decode(derandomize(c[4:]), 5)
        assert n == 0 and TransferFrame.unpack(msg).scid == 0xA5


def test_module_doctests():
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module("ground.recovery"))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("frame_length,interleave,basis,randomized", [(1000, 5, "dual", True),
                                                                      (892, 4, "conventional", False),
                                                                      (223, 1, "dual", True)])
def test_round_trip_other_link_settings(frame_length, interleave, basis, randomized):
    scene = make_scene(3, seed=12, max_len=1500)
    cadus = downlink_frames(scene, frame_length=frame_length, interleave=interleave, basis=basis,
                            randomize=randomized)
    rec = ground.recover(cadus, frame_length=frame_length, interleave=interleave, basis=basis,
                         randomized=randomized)
    assert rec.scenes[11].to_coded_scene() == scene and rec.frames_ok == len(cadus)
    wrong = ground.recover(cadus)  # default settings on another link: nothing decodes, nothing raises
    assert wrong.scenes == {} and wrong.internal_errors == []
    with pytest.raises(ValueError):
        ground.recover(cadus, frame_length=1001, interleave=5)
