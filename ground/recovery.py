"""``recover``: CADUs or a raw recording -> scenes, with an account of everything that went wrong.

    frames / stream ──sync (ASM, flywheel)──derandomize──RS decode──FECF──►  transfer frames
        ──duplicate filter──VC demux (frame counts, first header pointer)──►  packets
        ──CRC-16, sequence counts, segment reassembly──►  scene headers + chunks (CRC32)

``recover`` never raises on any input: an empty list, random bytes, truncated or shuffled frames all
give a :class:`Recovery` whose counters say what was found. A chunk is returned only when its own CRC32
checks, so what ``Recovery.scenes[sid].to_coded_scene()`` holds is exactly what the satellite coded.

    >>> recover([]).frames_seen
    0
"""
from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np

from ground.depacketizer import PacketStats, Reassembler, RecoveredScene, VirtualChannelDemux
from ground.frames import DEFAULT_ASM_BIT_ERRORS, FrameStats, iter_frames
from onboard.packets.downlink import DEFAULT_INTERLEAVE, validate_frame_length
from onboard.packets.reed_solomon import BASES
from onboard.packets.tm_frame import DEFAULT_FRAME_LENGTH

DUPLICATE_WINDOW = 128  # frames; below the 256-frame wrap of the master channel count, so never a false hit

__all__ = ["recover", "Recovery", "RecoveredScene"]


@dataclass
class Recovery:
    """Scenes recovered from a recording, and the counts of every kind of loss."""

    scenes: dict[int, RecoveredScene] = field(default_factory=dict)
    # frame layer
    frames_seen: int = 0
    frames_ok: int = 0
    frames_uncorrectable: int = 0
    rs_corrected_symbols: int = 0
    frames_fecf_failed: int = 0
    frames_invalid: int = 0
    frames_truncated: int = 0
    frames_duplicate: int = 0
    false_syncs: int = 0
    garbage_bytes: int = 0
    input_bytes: int = 0
    invalid_items: int = 0
    # packet layer
    frame_gaps: int = 0
    frames_bad_fhp: int = 0
    packets_ok: int = 0
    packets_crc_failed: int = 0
    packets_idle: int = 0
    packets_incomplete: int = 0
    packet_sequence_gaps: int = 0
    records_incomplete: int = 0
    records_failed: int = 0
    records_conflicting: int = 0
    internal_errors: list[str] = field(default_factory=list)
    #: seconds spent in the frame layer (sync, derandomize, RS, FECF) and the packet layer (demux, reassembly)
    timings_s: dict[str, float] = field(default_factory=dict)

    def _absorb(self, stats) -> None:
        for f in fields(stats):
            setattr(self, f.name, getattr(self, f.name) + getattr(stats, f.name))

    @property
    def n_chunks_recovered(self) -> int:
        return sum(len(s.chunks) for s in self.scenes.values())

    def report(self) -> str:
        lines = [
            f"input: {self.input_bytes} octets, {self.garbage_bytes} garbage"
            + (f", {self.invalid_items} non-bytes items skipped" if self.invalid_items else ""),
            f"frames: {self.frames_seen} found, {self.frames_ok} good, {self.frames_uncorrectable} "
            f"uncorrectable, {self.rs_corrected_symbols} RS symbols corrected, {self.frames_fecf_failed} FECF "
            f"failed, {self.frames_invalid} invalid, {self.frames_truncated} truncated, "
            f"{self.frames_duplicate} duplicate, {self.frame_gaps} missing (counter gaps)",
            f"packets: {self.packets_ok} good, {self.packets_crc_failed} CRC failed, {self.packets_idle} idle, "
            f"{self.packets_incomplete} cut short, {self.packet_sequence_gaps} missing (sequence gaps)",
            f"records: {self.records_incomplete} incomplete, {self.records_failed} failed their check, "
            f"{self.records_conflicting} conflicting",
        ]
        for sid in sorted(self.scenes):
            s = self.scenes[sid]
            if s.header is None:
                lines.append(f"scene {sid}: header LOST, {len(s.chunks)} intact chunks, "
                             f"{len(s.corrupted)} corrupted")
            else:
                miss = s.missing or []
                lines.append(f"scene {sid}: {len(s.chunks)}/{s.header.n_chunks} chunks intact, "
                             f"{len(miss)} missing{_list(miss)}, {len(s.corrupted)} seen corrupted, "
                             f"{s.header_copies} header copies")
        if self.internal_errors:
            lines.append(f"internal errors: {len(self.internal_errors)}: {self.internal_errors[0]}")
        return "\n".join(lines)


def _list(idx: list[int], limit: int = 12) -> str:
    if not idx:
        return ""
    shown = ", ".join(map(str, idx[:limit]))
    return f" ({shown}{', ...' if len(idx) > limit else ''})"


def _as_stream(frames, rec: Recovery) -> bytes:
    if frames is None:
        return b""
    if isinstance(frames, (bytes, bytearray, memoryview)):
        return bytes(frames)
    if isinstance(frames, np.ndarray):
        return np.ascontiguousarray(frames).tobytes()
    if isinstance(frames, str):
        rec.invalid_items += 1
        return b""
    parts = []
    try:
        for item in frames:
            if isinstance(item, (bytes, bytearray, memoryview)):
                parts.append(bytes(item))
            elif isinstance(item, np.ndarray):
                parts.append(np.ascontiguousarray(item).tobytes())
            else:
                rec.invalid_items += 1
    except TypeError:
        rec.invalid_items += 1
    return b"".join(parts)


def recover(frames: Iterable[bytes] | bytes, *, frame_length: int = DEFAULT_FRAME_LENGTH,
            interleave: int = DEFAULT_INTERLEAVE, basis: str = "dual", randomized: bool = True,
            fecf: bool = True, scid: int | None = None,
            max_asm_bit_errors: int = DEFAULT_ASM_BIT_ERRORS) -> Recovery:
    """Recover scenes from CADUs (a list of ASM + randomized codeblocks) or one raw byte stream.

    A list is read as the concatenation of its items, so CADUs cut at arbitrary points still
    synchronise. The other arguments must match the downlink settings (their defaults do). Never raises
    for any input bytes (inconsistent settings raise ValueError); a problem in this code itself (a bug)
    is recorded in ``internal_errors`` instead of being raised.
    """
    validate_frame_length(frame_length, interleave)  # bad settings are the caller's error: raise
    if basis not in BASES:
        raise ValueError(f"basis {basis!r} not one of {BASES}")
    rec = Recovery()
    fstats = FrameStats()
    pstats = PacketStats()
    reassembler = Reassembler(pstats, rec.scenes)
    demux = VirtualChannelDemux(pstats)
    t_start = time.perf_counter()
    t_packets = 0.0
    try:
        stream = _as_stream(frames, rec)
        rec.input_bytes = len(stream)
        recent: collections.deque[bytes] = collections.deque()
        recent_set: set[bytes] = set()
        for df in iter_frames(stream, fstats, frame_length=frame_length, interleave=interleave, basis=basis,
                              randomized=randomized, fecf=fecf, scid=scid,
                              max_asm_bit_errors=max_asm_bit_errors):
            t0 = time.perf_counter()
            if df.raw in recent_set:
                rec.frames_duplicate += 1
                continue
            recent.append(df.raw)
            recent_set.add(df.raw)
            if len(recent) > DUPLICATE_WINDOW:
                recent_set.discard(recent.popleft())
            rec.frames_ok += 1
            for packet in demux.push(df.frame):
                reassembler.push(packet)
            t_packets += time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises on input bytes"
        rec.internal_errors.append(f"{type(exc).__name__}: {exc}")
    t0 = time.perf_counter()
    try:
        reassembler.finish()
    except Exception as exc:  # noqa: BLE001
        rec.internal_errors.append(f"{type(exc).__name__}: {exc}")
    t_packets += time.perf_counter() - t0
    rec.timings_s = {"sync_rs": time.perf_counter() - t_start - t_packets, "reassembly": t_packets}
    rec._absorb(fstats)
    rec._absorb(pstats)
    return rec
