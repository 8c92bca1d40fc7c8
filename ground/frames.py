"""Ground frame layer: frame synchronisation, derandomization, RS decoding and transfer-frame parsing.

``iter_frames(stream, stats=...)`` walks a byte stream that may hold garbage, truncated CADUs and bit
errors and yields the transfer frames that decode cleanly. Synchronisation:

* a *candidate* is any position whose 4 octets are within ``max_asm_bit_errors`` bits of the ASM
  0x1ACFFC1D (found by a small numba scan, so a corrupted ASM does not cost its frame);
* once a frame has decoded, the next one is expected right after it (flywheel) and is tried there with a
  looser ASM tolerance (``LOCKED_ASM_BIT_ERRORS``);
* a candidate is accepted when every RS codeword of its block decodes. A failing candidate at an exact
  ASM or at the flywheel position is counted as an uncorrectable frame; any other failing candidate is a
  false sync and costs nothing. After any candidate the search resumes one octet later (the flywheel
  position is still tried first when nothing closer turns up), so a truncated CADU never hides the next
  one, even when what is left of it still decodes.

Octets that belong to no accepted or uncorrectable CADU are counted as garbage. Nothing here raises on
bad input; every problem lands in a :class:`FrameStats` counter.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numba import njit

from onboard.errors import CorruptStreamError
from onboard.packets.downlink import DEFAULT_INTERLEAVE, cadu_length, validate_frame_length
from onboard.packets.randomizer import ASM, _pn_array
from onboard.packets.reed_solomon import rs_decode_array
from onboard.packets.tm_frame import DEFAULT_FRAME_LENGTH, TransferFrame

DEFAULT_ASM_BIT_ERRORS = 3
LOCKED_ASM_BIT_ERRORS = 8
_ASM_ARR = np.frombuffer(ASM, np.uint8).copy()
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


@njit(cache=True)
def _asm_distance(buf, pos, asm, popcount):
    d = 0
    for i in range(4):
        d += popcount[buf[pos + i] ^ asm[i]]
    return d


@njit(cache=True)
def _next_asm(buf, start, max_err, asm, popcount):
    """First position >= start whose 4 octets are within max_err bits of the ASM, or -1."""
    n = buf.shape[0]
    for pos in range(start, n - 3):
        if _asm_distance(buf, pos, asm, popcount) <= max_err:
            return pos
    return -1


@dataclass
class FrameStats:
    """Counters of the frame layer (merged into ``ground.recovery.Recovery``)."""

    frames_seen: int = 0            # CADUs found: decoded + uncorrectable
    frames_uncorrectable: int = 0   # RS failure at a credible sync position
    rs_corrected_symbols: int = 0
    frames_fecf_failed: int = 0
    frames_invalid: int = 0         # decoded, FECF good, but header unusable (version, other SCID...)
    frames_truncated: int = 0       # a credible ASM whose CADU runs past the end of the input
    false_syncs: int = 0
    garbage_bytes: int = 0


@dataclass(frozen=True)
class DecodedFrame:
    offset: int          # of the ASM in the stream
    frame: TransferFrame
    raw: bytes           # the transfer frame octets after RS decoding
    corrected: int       # RS symbols corrected in this block


def iter_frames(stream: bytes, stats: FrameStats, *, frame_length: int = DEFAULT_FRAME_LENGTH,
                interleave: int = DEFAULT_INTERLEAVE, basis: str = "dual", randomized: bool = True,
                fecf: bool = True, scid: int | None = None,
                max_asm_bit_errors: int = DEFAULT_ASM_BIT_ERRORS) -> Iterator[DecodedFrame]:
    """Yield every cleanly decoded transfer frame of ``stream`` in order; count the rest in ``stats``."""
    validate_frame_length(frame_length, interleave)
    L = cadu_length(frame_length, interleave)
    block_len = L - len(ASM)
    buf = np.frombuffer(bytes(stream), np.uint8)
    n = buf.shape[0]
    pn = _pn_array(block_len)
    pos = 0
    covered = 0          # octets before this are accounted for (frame or garbage)
    expected = -1        # flywheel: where the next CADU should start
    while True:
        cand = _next_asm(buf, pos, max_asm_bit_errors, _ASM_ARR, _POPCOUNT) if pos <= n - 4 else -1
        credible = False
        if expected >= 0 and (cand < 0 or cand >= expected):
            if expected + 4 <= n and _asm_distance(buf, expected, _ASM_ARR, _POPCOUNT) <= LOCKED_ASM_BIT_ERRORS:
                cand = expected
                credible = True
            expected = -1
        if cand < 0:
            break
        if not credible:
            credible = _asm_distance(buf, cand, _ASM_ARR, _POPCOUNT) == 0
        if cand + L > n:
            if credible:
                stats.frames_truncated += 1
            pos = cand + 1
            continue
        block = buf[cand + len(ASM):cand + L]
        if randomized:
            block = block ^ pn
        msgs, counts = rs_decode_array(block.reshape(1, -1), interleave, basis)
        if (counts < 0).any():
            if credible:
                stats.frames_seen += 1
                stats.frames_uncorrectable += 1
                stats.garbage_bytes += max(0, cand - covered)
                covered = max(covered, cand + L)
                expected = cand + L
            else:
                stats.false_syncs += 1
            pos = cand + 1
            continue
        stats.frames_seen += 1
        corrected = int(counts.sum())
        stats.rs_corrected_symbols += corrected
        stats.garbage_bytes += max(0, cand - covered)
        covered = max(covered, cand + L)
        expected = cand + L
        pos = cand + 1  # rescan the frame's octets: a CADU cut short by a few octets must not hide the next
        raw = msgs.tobytes()
        try:
            frame = TransferFrame.unpack(raw, has_fecf=fecf)
        except CorruptStreamError as exc:
            if "FECF" in str(exc):
                stats.frames_fecf_failed += 1
            else:
                stats.frames_invalid += 1
            continue
        if scid is not None and frame.scid != scid:
            stats.frames_invalid += 1
            continue
        yield DecodedFrame(offset=cand, frame=frame, raw=raw, corrected=corrected)
    stats.garbage_bytes += max(0, n - covered)
