"""Scene -> channel access data units (CADUs): packetize, frame, RS encode, randomize, ASM.

One CADU = ASM (4 octets) + randomized RS codeblock of one transfer frame. With the defaults
(frame 1115 octets, interleave I = 5, no virtual fill) a CADU is 4 + 1275 = 1279 octets. The frame
length must be (223 - Q) * I for a virtual fill Q in 0..222 (shortened codewords); with Q = 0 it is
223 * I.

``Downlinker`` is the stateful form for a continuous stream: the master channel count, the per-VC frame
counts and the per-APID packet sequence counts continue from one scene to the next. ``downlink_frames`` is
the one-shot convenience (a fresh Downlinker, one scene, flushed).

    >>> from onboard.container import Chunk, CodedScene, SceneHeader
    >>> h = SceneHeader(scene_id=1, height=8, width=8, bands=1, dtype="uint8", bit_depth=8,
    ...                 tile_h=8, tile_w=8, cluster_bands=0, n_chunks=1, package_id=bytes(32))
    >>> cadus = downlink_frames(CodedScene(h, [Chunk(0, b"xyz")]))
    >>> {len(c) for c in cadus}, cadus[0][:4].hex()
    ({1279}, '1acffc1d')
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from onboard.container import CodedScene
from onboard.packets.packetizer import (
    DEFAULT_APID, DEFAULT_HEADER_COPIES, DEFAULT_MAX_PACKET_DATA, SequenceCounter, packetize,
)
from onboard.packets.randomizer import ASM, _pn_array
from onboard.packets.reed_solomon import (
    MAX_INTERLEAVE, RS_K, RS_NROOTS, rs_encode_array,
)
from onboard.packets.space_packet import SpacePacket
from onboard.packets.tm_frame import (
    COUNT_MODULO, DEFAULT_FRAME_LENGTH, DEFAULT_SCID, DEFAULT_VCID, IDLE_VCID, Framer, MasterChannel,
    TransferFrame, idle_frame,
)

DEFAULT_INTERLEAVE = 5


def validate_frame_length(frame_length: int, interleave: int) -> int:
    """Return the virtual fill Q per codeword; raise ValueError unless frame_length == (223 - Q) * I."""
    if not 1 <= interleave <= MAX_INTERLEAVE:
        raise ValueError(f"interleave depth {interleave} outside 1..{MAX_INTERLEAVE}")
    if frame_length % interleave:
        raise ValueError(f"frame length {frame_length} is not a multiple of the interleave depth "
                         f"{interleave}: it must be (223 - Q) * I")
    k = frame_length // interleave
    if k > RS_K:
        raise ValueError(f"frame length {frame_length} exceeds one RS codeblock message "
                         f"({RS_K} * {interleave} = {RS_K * interleave} octets)")
    return RS_K - k


def cadu_length(frame_length: int = DEFAULT_FRAME_LENGTH, interleave: int = DEFAULT_INTERLEAVE) -> int:
    return len(ASM) + frame_length + RS_NROOTS * interleave


class FrameEncoder:
    """Transfer frames -> CADUs (RS encode, randomize, prepend ASM), batched through the numba encoder."""

    def __init__(self, frame_length: int = DEFAULT_FRAME_LENGTH, interleave: int = DEFAULT_INTERLEAVE,
                 basis: str = "dual", randomize: bool = True) -> None:
        self.virtual_fill = validate_frame_length(frame_length, interleave)
        self.frame_length = frame_length
        self.interleave = interleave
        self.basis = basis
        self.randomize = randomize
        self.cadu_length = cadu_length(frame_length, interleave)

    def encode_many(self, frames: Iterable[TransferFrame | bytes]) -> list[bytes]:
        raw = [f.pack() if isinstance(f, TransferFrame) else bytes(f) for f in frames]
        if not raw:
            return []
        bad = [len(r) for r in raw if len(r) != self.frame_length]
        if bad:
            raise ValueError(f"frames of {bad[0]} octets given to an encoder for {self.frame_length}")
        msgs = np.frombuffer(b"".join(raw), np.uint8).reshape(len(raw), self.frame_length)
        blocks = rs_encode_array(msgs, self.interleave, self.basis)
        if self.randomize:
            blocks ^= _pn_array(blocks.shape[1])[None, :]
        out = np.empty((len(raw), self.cadu_length), np.uint8)
        out[:, :len(ASM)] = np.frombuffer(ASM, np.uint8)
        out[:, len(ASM):] = blocks
        return [row.tobytes() for row in out]

    def encode(self, frame: TransferFrame | bytes) -> bytes:
        return self.encode_many([frame])[0]


class Downlinker:
    """A continuous downlink: scenes in, CADUs out, counters continuing across calls.

    >>> d = Downlinker()                       # doctest: +SKIP
    >>> cadus = d.downlink(scene_a) + d.downlink(scene_b, vcid=2)   # doctest: +SKIP
    """

    def __init__(self, *, scid: int = DEFAULT_SCID, frame_length: int = DEFAULT_FRAME_LENGTH,
                 interleave: int = DEFAULT_INTERLEAVE, basis: str = "dual", randomize: bool = True,
                 fecf: bool = True, max_packet_data: int = DEFAULT_MAX_PACKET_DATA,
                 header_copies: int = DEFAULT_HEADER_COPIES, mc_count: int = 0,
                 seq_counter: SequenceCounter | None = None) -> None:
        self.encoder = FrameEncoder(frame_length, interleave, basis, randomize)
        self.master = MasterChannel(scid=scid, mc_count=mc_count % COUNT_MODULO, frame_length=frame_length,
                                    fecf=fecf)
        Framer(self.master)  # validates the data field length early
        self.framers: dict[int, Framer] = {}
        self.seq_counter = seq_counter if seq_counter is not None else SequenceCounter()
        self.max_packet_data = max_packet_data
        self.header_copies = header_copies
        self._idle_vc_count = 0
        self.frames_out = 0

    @property
    def frame_length(self) -> int:
        return self.master.frame_length

    def framer(self, vcid: int) -> Framer:
        f = self.framers.get(vcid)
        if f is None:
            f = self.framers[vcid] = Framer(self.master, vcid=vcid)
        return f

    def packets(self, coded: CodedScene, *, apid: int = DEFAULT_APID) -> list[SpacePacket]:
        """The scene's packets, numbered from this downlinker's sequence counters."""
        return packetize(coded, apid=apid, max_packet_data=self.max_packet_data, seq_counter=self.seq_counter,
                         header_copies=self.header_copies, header_spacing=self.frame_length)

    def transfer_frames(self, packets: Iterable[SpacePacket | bytes], *, vcid: int = DEFAULT_VCID,
                        flush: bool = True) -> list[TransferFrame]:
        framer = self.framer(vcid)
        out: list[TransferFrame] = []
        for p in packets:
            out.extend(framer.push(p))
        if flush:
            out.extend(framer.flush())
        self.frames_out += len(out)
        return out

    def encode_packets(self, packets: Iterable[SpacePacket | bytes], *, vcid: int = DEFAULT_VCID,
                       flush: bool = True) -> list[bytes]:
        return self.encoder.encode_many(self.transfer_frames(packets, vcid=vcid, flush=flush))

    def downlink(self, coded: CodedScene, *, apid: int = DEFAULT_APID, vcid: int = DEFAULT_VCID,
                 flush: bool = True) -> list[bytes]:
        """CADUs for one scene. ``flush=False`` leaves the last partial frame open for the next scene."""
        return self.encode_packets(self.packets(coded, apid=apid), vcid=vcid, flush=flush)

    def flush(self, vcid: int | None = None) -> list[bytes]:
        """Close the open frame of one VC (or of every VC) with idle fill; return its CADUs."""
        vcids = [vcid] if vcid is not None else sorted(self.framers)
        frames: list[TransferFrame] = []
        for v in vcids:
            if v in self.framers:
                frames.extend(self.framers[v].flush())
        self.frames_out += len(frames)
        return self.encoder.encode_many(frames)

    def idle_cadu(self) -> bytes:
        """One only-idle-data frame (VC 7, first header pointer 0x7FE), e.g. to keep the link busy."""
        f = idle_frame(self.master, vc_count=self._idle_vc_count, vcid=IDLE_VCID)
        self._idle_vc_count = (self._idle_vc_count + 1) % COUNT_MODULO
        self.frames_out += 1
        return self.encoder.encode(f)


def downlink_frames(coded: CodedScene, *, frame_length: int = DEFAULT_FRAME_LENGTH,
                    interleave: int = DEFAULT_INTERLEAVE, apid: int = DEFAULT_APID, vcid: int = DEFAULT_VCID,
                    scid: int = DEFAULT_SCID, randomize: bool = True, basis: str = "dual", fecf: bool = True,
                    max_packet_data: int = DEFAULT_MAX_PACKET_DATA,
                    header_copies: int = DEFAULT_HEADER_COPIES) -> list[bytes]:
    """One scene -> list of CADUs (ASM + randomized RS codeblock), every counter starting at 0."""
    d = Downlinker(scid=scid, frame_length=frame_length, interleave=interleave, basis=basis,
                   randomize=randomize, fecf=fecf, max_packet_data=max_packet_data,
                   header_copies=header_copies)
    return d.downlink(coded, apid=apid, vcid=vcid, flush=True)
