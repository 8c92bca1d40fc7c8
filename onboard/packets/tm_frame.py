"""TM Transfer Frames (CCSDS 132.0-B-3) and the per-virtual-channel packet multiplexer.

Binary layout of one fixed-length frame (big-endian)::

    Primary header (FRAME_HEADER_SIZE = 6 octets)
      version                  2 bits  always 0 (TFVN '00')
      spacecraft id (SCID)    10 bits
      virtual channel id       3 bits
      OCF flag                 1 bit   1 when the 4-octet operational control field is present
      master channel count     8 bits  all frames of the spacecraft, wraps at 256
      virtual channel count    8 bits  frames of this VC, wraps at 256
      data field status       16 bits
        secondary header flag  1 bit   0 (no frame secondary header)
        synchronisation flag   1 bit   0 (packets, octet-synchronised)
        packet order flag      1 bit   0
        segment length id      2 bits  0b11 (required when the sync flag is 0)
        first header pointer  11 bits  offset in the data field of the first packet header that starts
                                       in this frame; FHP_NO_PACKET_START (0x7FF) when none starts here,
                                       FHP_IDLE (0x7FE) when the frame carries only idle data
    Data field               frame_length - 6 - (4 if OCF) - (2 if FECF) octets
    Operational control field  4 octets (optional)
    Frame error control field  2 octets CRC-16-CCITT (binascii.crc_hqx(frame_so_far, 0xFFFF)), default on

The default frame length is 1115 octets = 223 x 5, one RS(255,223) codeblock at interleave depth 5.

Example:
    >>> f = TransferFrame(scid=0xA5, vcid=1, mc_count=3, vc_count=2, first_header_pointer=0,
    ...                   data=bytes(1107))
    >>> TransferFrame.unpack(f.pack()) == f
    True
"""
from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, field

from onboard.errors import CorruptStreamError
from onboard.packets.space_packet import (
    MIN_PACKET_SIZE, SEQ_COUNT_MODULO, SpacePacket, idle_packet,
)

FRAME_HEADER_SIZE = 6
TFVN_BITS = 2
SCID_BITS = 10
VCID_BITS = 3
OCF_FLAG_BITS = 1
MC_COUNT_BITS = 8
VC_COUNT_BITS = 8
FHP_BITS = 11
OCF_SIZE = 4
FECF_SIZE = 2

FRAME_VERSION = 0
SCID_MAX = (1 << SCID_BITS) - 1
VCID_MAX = (1 << VCID_BITS) - 1
COUNT_MODULO = 1 << MC_COUNT_BITS  # 256, both counters
FHP_NO_PACKET_START = 0x7FF
FHP_IDLE = 0x7FE
SEGMENT_LENGTH_ID = 0b11

DEFAULT_FRAME_LENGTH = 1115
DEFAULT_SCID = 0x0A5
DEFAULT_VCID = 1
IDLE_VCID = 7
IDLE_FRAME_FILL_OCTET = 0x55
MIN_FRAME_LENGTH = FRAME_HEADER_SIZE + FECF_SIZE + OCF_SIZE + MIN_PACKET_SIZE
MAX_FRAME_LENGTH = 2048

_HDR = struct.Struct(">HBBH")


def frame_crc(data: bytes) -> int:
    """CRC-16-CCITT of the frame octets before the FECF."""
    return binascii.crc_hqx(data, 0xFFFF)


def data_field_length(frame_length: int, ocf: bool = False, fecf: bool = True) -> int:
    return frame_length - FRAME_HEADER_SIZE - (OCF_SIZE if ocf else 0) - (FECF_SIZE if fecf else 0)


@dataclass(frozen=True)
class TransferFrame:
    """One TM transfer frame; ``data`` is the data field. The frame length is implied by the fields."""

    scid: int
    vcid: int
    mc_count: int
    vc_count: int
    first_header_pointer: int
    data: bytes
    ocf: bytes | None = None
    has_fecf: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.scid <= SCID_MAX:
            raise ValueError(f"SCID {self.scid} outside 0..{SCID_MAX}")
        if not 0 <= self.vcid <= VCID_MAX:
            raise ValueError(f"VCID {self.vcid} outside 0..{VCID_MAX}")
        if not (0 <= self.mc_count < COUNT_MODULO and 0 <= self.vc_count < COUNT_MODULO):
            raise ValueError(f"frame counts {self.mc_count}/{self.vc_count} outside 0..255")
        if not 0 <= self.first_header_pointer <= FHP_NO_PACKET_START:
            raise ValueError(f"first header pointer {self.first_header_pointer} outside 0..0x7FF")
        if self.ocf is not None and len(self.ocf) != OCF_SIZE:
            raise ValueError(f"OCF must be {OCF_SIZE} octets, got {len(self.ocf)}")

    @property
    def frame_length(self) -> int:
        return (FRAME_HEADER_SIZE + len(self.data) + (OCF_SIZE if self.ocf is not None else 0)
                + (FECF_SIZE if self.has_fecf else 0))

    def pack(self) -> bytes:
        w0 = (FRAME_VERSION << 14) | (self.scid << 4) | (self.vcid << 1) | (1 if self.ocf is not None else 0)
        status = (SEGMENT_LENGTH_ID << 11) | self.first_header_pointer
        out = _HDR.pack(w0, self.mc_count, self.vc_count, status) + bytes(self.data)
        if self.ocf is not None:
            out += bytes(self.ocf)
        if self.has_fecf:
            out += frame_crc(out).to_bytes(FECF_SIZE, "big")
        return out

    @classmethod
    def unpack(cls, data: bytes, has_fecf: bool = True) -> "TransferFrame":
        """Parse one frame (its whole length). Raises CorruptStreamError on a FECF mismatch or bad header."""
        data = bytes(data)
        minimum = FRAME_HEADER_SIZE + (FECF_SIZE if has_fecf else 0)
        if len(data) < minimum:
            raise CorruptStreamError(f"transfer frame of {len(data)} octets shorter than {minimum}")
        if has_fecf:
            found = int.from_bytes(data[-FECF_SIZE:], "big")
            computed = frame_crc(data[:-FECF_SIZE])
            if found != computed:
                raise CorruptStreamError(f"frame FECF mismatch: computed 0x{computed:04X}, stored 0x{found:04X}")
        w0, mc, vc, status = _HDR.unpack_from(data)
        version = w0 >> 14
        if version != FRAME_VERSION:
            raise CorruptStreamError(f"transfer frame version {version}, expected {FRAME_VERSION}")
        if status >> 15:
            raise CorruptStreamError("frame secondary header flag set; this mission's frames have none")
        has_ocf = bool(w0 & 1)
        end = len(data) - (FECF_SIZE if has_fecf else 0)
        ocf = None
        if has_ocf:
            if end - OCF_SIZE < FRAME_HEADER_SIZE:
                raise CorruptStreamError(f"frame of {len(data)} octets too short for its OCF")
            ocf = data[end - OCF_SIZE:end]
            end -= OCF_SIZE
        return cls(scid=(w0 >> 4) & SCID_MAX, vcid=(w0 >> 1) & VCID_MAX, mc_count=mc, vc_count=vc,
                   first_header_pointer=status & FHP_NO_PACKET_START, data=data[FRAME_HEADER_SIZE:end],
                   ocf=ocf, has_fecf=has_fecf)


@dataclass
class MasterChannel:
    """Counters shared by the virtual channels of one spacecraft (master channel frame count)."""

    scid: int = DEFAULT_SCID
    mc_count: int = 0
    frame_length: int = DEFAULT_FRAME_LENGTH
    fecf: bool = True

    def next_mc(self) -> int:
        n = self.mc_count
        self.mc_count = (n + 1) % COUNT_MODULO
        return n


@dataclass
class Framer:
    """Multiplexes the packets of one virtual channel into fixed-length frames.

    Packets are laid end to end in the VC's data-field stream and may span frames; each frame's first
    header pointer says where the first packet starting in it begins. ``push`` returns the frames it
    completed; ``flush`` pads the open frame with an idle packet and returns it (when the space left is
    shorter than an idle packet, the idle packet spills into one more frame).
    """

    master: MasterChannel
    vcid: int = DEFAULT_VCID
    vc_count: int = 0
    _buf: bytearray = field(default_factory=bytearray, repr=False)
    _fhp: int = field(default=FHP_NO_PACKET_START, repr=False)
    _idle_count: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.vcid <= VCID_MAX:
            raise ValueError(f"VCID {self.vcid} outside 0..{VCID_MAX}")
        if self.capacity < MIN_PACKET_SIZE:
            raise ValueError(f"frame length {self.master.frame_length} leaves a data field of "
                             f"{self.capacity} octets")

    @property
    def capacity(self) -> int:
        return data_field_length(self.master.frame_length, fecf=self.master.fecf)

    @property
    def pending_octets(self) -> int:
        """Octets waiting in the open (not yet emitted) frame."""
        return len(self._buf)

    def _emit(self) -> TransferFrame:
        frame = TransferFrame(scid=self.master.scid, vcid=self.vcid, mc_count=self.master.next_mc(),
                              vc_count=self.vc_count, first_header_pointer=self._fhp,
                              data=bytes(self._buf), has_fecf=self.master.fecf)
        self.vc_count = (self.vc_count + 1) % COUNT_MODULO
        self._buf.clear()
        self._fhp = FHP_NO_PACKET_START
        return frame

    def push_bytes(self, packet: bytes) -> list[TransferFrame]:
        """Append one packed packet to the VC stream; return the frames completed."""
        out = []
        cap = self.capacity
        pos = 0
        first = True
        while pos < len(packet):
            if first and self._fhp == FHP_NO_PACKET_START:
                self._fhp = len(self._buf)
            first = False
            take = min(cap - len(self._buf), len(packet) - pos)
            self._buf += packet[pos:pos + take]
            pos += take
            if len(self._buf) == cap:
                out.append(self._emit())
        return out

    def push(self, packet: SpacePacket | bytes) -> list[TransferFrame]:
        return self.push_bytes(packet.pack() if isinstance(packet, SpacePacket) else bytes(packet))

    def flush(self) -> list[TransferFrame]:
        """Close the open frame with idle fill (nothing when no frame is open)."""
        if not self._buf:
            return []
        room = self.capacity - len(self._buf)
        size = room if room >= MIN_PACKET_SIZE else room + self.capacity
        idle = idle_packet(size, self._idle_count)
        self._idle_count = (self._idle_count + 1) % SEQ_COUNT_MODULO
        out = self.push_bytes(idle.pack())
        assert not self._buf
        return out


def idle_frame(master: MasterChannel, vc_count: int = 0, vcid: int = IDLE_VCID) -> TransferFrame:
    """An only-idle-data frame (first header pointer 0x7FE)."""
    cap = data_field_length(master.frame_length, fecf=master.fecf)
    return TransferFrame(scid=master.scid, vcid=vcid, mc_count=master.next_mc(), vc_count=vc_count,
                         first_header_pointer=FHP_IDLE, data=bytes([IDLE_FRAME_FILL_OCTET]) * cap,
                         has_fecf=master.fecf)


def frames_from_packets(packets, *, scid: int = DEFAULT_SCID, vcid: int = DEFAULT_VCID,
                        frame_length: int = DEFAULT_FRAME_LENGTH, mc_count: int = 0, vc_count: int = 0,
                        fecf: bool = True, flush: bool = True) -> list[TransferFrame]:
    """One-shot: packets (SpacePacket or packed bytes) -> transfer frames of one VC."""
    master = MasterChannel(scid=scid, mc_count=mc_count, frame_length=frame_length, fecf=fecf)
    framer = Framer(master, vcid=vcid, vc_count=vc_count)
    out = []
    for p in packets:
        out.extend(framer.push(p))
    if flush:
        out.extend(framer.flush())
    return out

