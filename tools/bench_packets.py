"""Benchmark the downlink chain (packets, frames, CCSDS Reed-Solomon) on one core, with outside anchors.

    python tools/bench_packets.py [--reps 5] [--mbytes 4] [--seed 0]

Median of ``--reps`` runs, MB/s of payload (message) octets, one thread:

* packetize + frame: a synthetic scene of ``--mbytes`` MB of chunk payload -> space packets -> 1115-octet
  transfer frames (no RS). Anchor: ``spacepackets`` packing the same packets (header + data, CRC added by
  ``binascii.crc_hqx``) -- packing only, so the anchor does less work than we do.
* RS encode, RS decode without errors, RS decode with 8 symbol errors in every codeword: interleave 5,
  dual basis, 1115-octet messages. Anchor: ``reedsolo.RSCodec(32, nsize=255, fcr=112, prim=0x187,
  generator=173)`` (pure Python; conventional basis, which is the same work minus two table look-ups
  per symbol), run on fewer codewords because it is slow.
* ground recovery of the CADUs of the scene (sync, derandomize, RS, frames, packets, chunks); no anchor.

Ratios are ours / anchor throughput in the same run; absolute numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import binascii
import os
import statistics
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from onboard.container import Chunk, CodedScene, SceneHeader  # noqa: E402
from onboard.packets import (  # noqa: E402
    downlink_frames, frames_from_packets, packetize, rs_decode_array, rs_encode_array,
)


def median_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_scene(mbytes: float, rng: np.random.Generator) -> CodedScene:
    chunk_len = 16384
    n = max(1, int(mbytes * 1e6) // chunk_len)
    h = SceneHeader(scene_id=1, height=256 * n, width=256, bands=1, dtype="uint8", bit_depth=8, tile_h=256,
                    tile_w=256, cluster_bands=0, n_chunks=n, package_id=bytes(32))
    return CodedScene(h, [Chunk(i, rng.integers(0, 256, chunk_len, np.uint8).tobytes()) for i in range(n)])


def add_errors(blocks: np.ndarray, per_codeword: int, interleave: int, rng: np.random.Generator) -> np.ndarray:
    out = blocks.copy()
    n = out.shape[1] // interleave
    for b in range(out.shape[0]):
        for c in range(interleave):
            pos = rng.choice(n, per_codeword, replace=False)
            out[b, pos * interleave + c] ^= rng.integers(1, 256, per_codeword, np.uint8)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--mbytes", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    reps = args.reps
    rows = []

    def row(name, mb_s, anchor_mb_s=None):
        rows.append((name, mb_s, anchor_mb_s))
        ratio = f"{mb_s / anchor_mb_s:8.1f}x" if anchor_mb_s else "       -"
        anchor = f"{anchor_mb_s:10.2f}" if anchor_mb_s else "         -"
        print(f"{name:34s} {mb_s:10.2f} {anchor} {ratio}", flush=True)

    print(f"numba threads: {os.environ['NUMBA_NUM_THREADS']}, median of {reps}")
    print(f"{'stage':34s} {'ours MB/s':>10s} {'anchor':>10s} {'ratio':>9s}")

    # --- packetize + frame vs spacepackets packing ---------------------------------------------------
    scene = make_scene(args.mbytes, rng)
    payload = sum(len(c.payload) for c in scene.chunks)
    packets = packetize(scene)
    frames_from_packets(packets)  # warm up
    t = median_time(lambda: frames_from_packets(packetize(scene)), reps)
    from spacepackets.ccsds.spacepacket import PacketType, SequenceFlags, SpacePacketHeader
    from spacepackets.ccsds.spacepacket import SpacePacket as RefPacket

    def sp_pack():
        for p in packets:
            sec = p.secondary_header.pack() if p.secondary_header else None
            hdr = SpacePacketHeader(PacketType.TM, apid=p.apid, seq_count=p.sequence_count,
                                    data_len=p.data_field_length - 1, sec_header_flag=sec is not None,
                                    seq_flags=SequenceFlags(p.sequence_flags))
            raw = RefPacket(hdr, sec, p.data).pack()
            if p.has_crc:
                raw += binascii.crc_hqx(bytes(raw), 0xFFFF).to_bytes(2, "big")
    ta = median_time(sp_pack, reps)
    row("packetize + frame (vs sp pack)", payload / t / 1e6, payload / ta / 1e6)

    # --- Reed-Solomon ---------------------------------------------------------------------------------
    import reedsolo
    ref = reedsolo.RSCodec(32, nsize=255, fcr=112, prim=0x187, generator=173)
    interleave = 5
    n_blocks = max(8, int(args.mbytes * 1e6) // 1115)
    msgs = rng.integers(0, 256, (n_blocks, 1115), np.uint8)
    rs_encode_array(msgs[:1], interleave)  # compile / load cache
    t = median_time(lambda: rs_encode_array(msgs, interleave), reps)
    n_ref = 40  # codewords for the pure-Python anchor
    ref_msgs = [rng.integers(0, 256, 223, np.uint8).tobytes() for _ in range(n_ref)]
    ta = median_time(lambda: [ref.encode(m) for m in ref_msgs], reps)
    row("RS encode (I=5, dual)", msgs.nbytes / t / 1e6, n_ref * 223 / ta / 1e6)

    blocks = rs_encode_array(msgs, interleave)
    rs_decode_array(blocks[:1], interleave)
    t = median_time(lambda: rs_decode_array(blocks, interleave), reps)
    ref_words = [bytes(ref.encode(m)) for m in ref_msgs]
    ta = median_time(lambda: [ref.decode(w) for w in ref_words], reps)
    row("RS decode, no errors", msgs.nbytes / t / 1e6, n_ref * 223 / ta / 1e6)

    noisy = add_errors(blocks, 8, interleave, rng)
    out, counts = rs_decode_array(noisy, interleave)
    assert (counts == 8).all() and (out == msgs).all()
    t = median_time(lambda: rs_decode_array(noisy, interleave), reps)
    ref_noisy = []
    for w in ref_words:
        b = bytearray(w)
        for p in rng.choice(255, 8, replace=False):
            b[p] ^= int(rng.integers(1, 256))
        ref_noisy.append(bytes(b))
    ta = median_time(lambda: [ref.decode(w) for w in ref_noisy], reps)
    row("RS decode, 8 errors/codeword", msgs.nbytes / t / 1e6, n_ref * 223 / ta / 1e6)

    # --- whole chain ----------------------------------------------------------------------------------
    import ground
    t = median_time(lambda: downlink_frames(scene), reps)
    row("downlink_frames (whole scene)", payload / t / 1e6)
    cadus = downlink_frames(scene)
    rec = ground.recover(cadus)
    assert rec.scenes[1].to_coded_scene() == scene
    t = median_time(lambda: ground.recover(cadus), reps)
    row("ground.recover (whole scene)", payload / t / 1e6)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
