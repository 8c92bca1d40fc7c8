"""CCSDS Space Packet (CCSDS 133.0-B-2) with this mission's secondary header and CRC-16 trailer.

Binary layout (big-endian, field widths are the named constants below)::

    Primary header (PRIMARY_HEADER_SIZE = 6 octets)
      version             3 bits  always 0
      packet type         1 bit   0 = telemetry (TM), 1 = telecommand
      sec. header flag    1 bit   1 when a SecondaryHeader follows
      APID               11 bits  0x7FF = idle packet
      sequence flags      2 bits  0b01 first, 0b00 continuation, 0b10 last, 0b11 unsegmented
      sequence count     14 bits  per APID, wraps at 16384
      data length        16 bits  (octets in the packet data field) - 1
    Packet data field
      secondary header   SECONDARY_HEADER_SIZE = 19 octets (only when the flag is set)
        cuc_coarse        4  CUC coarse time, seconds since 1958-01-01 (acquisition time of the scene)
        cuc_fine          2  CUC fine time, units of 2**-16 s
                             The CUC P-field is implicit (not transmitted): CUC_PFIELD = 0x1E, i.e.
                             level-1 epoch 1958, 4 coarse + 2 fine octets (CCSDS 301.0-B-4 section 3.2).
        scene_id          4  u32, SceneHeader.scene_id
        chunk_index       4  u32 chunk index for a chunk record; the copy number for a scene-header record
        package_prefix    4  first 4 octets of the 32-octet model package id
        record_type       1  0 = scene-header record, 1 = chunk record
                             (segmentation is implicit: the sequence flags and counts say it)
      user data          ``SpacePacket.data``
      packet error control  2  CRC-16-CCITT (poly 0x1021, init 0xFFFF = binascii.crc_hqx(x, 0xFFFF)) of the
                             whole packet before it, primary header included. Present when ``has_crc``:
                             True for product packets, False for idle packets (the default on unpack is
                             "CRC unless APID is the idle APID").

Example:
    >>> p = SpacePacket(apid=0x100, sequence_flags=SEQ_UNSEGMENTED, sequence_count=5, data=b"abc")
    >>> SpacePacket.unpack(p.pack()) == p
    True
"""
from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

from onboard.errors import CorruptStreamError

PRIMARY_HEADER_SIZE = 6
VERSION_BITS = 3
TYPE_BITS = 1
SEC_HDR_FLAG_BITS = 1
APID_BITS = 11
SEQ_FLAGS_BITS = 2
SEQ_COUNT_BITS = 14
DATA_LENGTH_BITS = 16

PACKET_VERSION = 0
PACKET_TYPE_TM = 0
PACKET_TYPE_TC = 1
APID_MAX = (1 << APID_BITS) - 1  # 0x7FF
IDLE_APID = APID_MAX
SEQ_COUNT_MODULO = 1 << SEQ_COUNT_BITS  # 16384
MAX_DATA_FIELD = 1 << DATA_LENGTH_BITS  # 65536 octets in the packet data field

SEQ_CONTINUATION = 0b00
SEQ_FIRST = 0b01
SEQ_LAST = 0b10
SEQ_UNSEGMENTED = 0b11

CRC_SIZE = 2
MIN_PACKET_SIZE = PRIMARY_HEADER_SIZE + 1  # the data field holds at least one octet

# Secondary header (mission-specific, see module docstring)
CUC_COARSE_SIZE = 4
CUC_FINE_SIZE = 2
CUC_PFIELD = 0x1E  # implicit: ext 0, time code id 001 (1958 epoch), 4 coarse octets, 2 fine octets
SCENE_ID_SIZE = 4
CHUNK_INDEX_SIZE = 4
PACKAGE_PREFIX_SIZE = 4
RECORD_TYPE_SIZE = 1
_SEC_STRUCT = struct.Struct(">IHII4sB")
SECONDARY_HEADER_SIZE = _SEC_STRUCT.size  # 19
RECORD_SCENE_HEADER = 0
RECORD_CHUNK = 1
RECORD_TYPES = (RECORD_SCENE_HEADER, RECORD_CHUNK)

IDLE_FILL_OCTET = 0x55
_PRIMARY_STRUCT = struct.Struct(">HHH")


def packet_crc(data: bytes) -> int:
    """CRC-16-CCITT (poly 0x1021, init 0xFFFF, no reflection, no final xor) as CCSDS uses it."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class SecondaryHeader:
    """CUC acquisition time and the chunk descriptor carried by every product packet."""

    cuc_coarse: int
    cuc_fine: int
    scene_id: int
    chunk_index: int
    package_prefix: bytes
    record_type: int = RECORD_CHUNK

    def __post_init__(self) -> None:
        if not 0 <= self.cuc_coarse < 1 << (8 * CUC_COARSE_SIZE):
            raise ValueError(f"cuc_coarse {self.cuc_coarse} does not fit {CUC_COARSE_SIZE} octets")
        if not 0 <= self.cuc_fine < 1 << (8 * CUC_FINE_SIZE):
            raise ValueError(f"cuc_fine {self.cuc_fine} does not fit {CUC_FINE_SIZE} octets")
        if not 0 <= self.scene_id < 1 << 32 or not 0 <= self.chunk_index < 1 << 32:
            raise ValueError(f"scene_id {self.scene_id} / chunk_index {self.chunk_index} must be u32")
        if len(self.package_prefix) != PACKAGE_PREFIX_SIZE:
            raise ValueError(f"package_prefix must be {PACKAGE_PREFIX_SIZE} octets, "
                             f"got {len(self.package_prefix)}")
        if self.record_type not in RECORD_TYPES:
            raise ValueError(f"record_type {self.record_type} not one of {RECORD_TYPES}")

    def pack(self) -> bytes:
        return _SEC_STRUCT.pack(self.cuc_coarse, self.cuc_fine, self.scene_id, self.chunk_index,
                                bytes(self.package_prefix), self.record_type)

    @classmethod
    def unpack(cls, data: bytes, offset: int = 0) -> "SecondaryHeader":
        if len(data) < offset + SECONDARY_HEADER_SIZE:
            raise CorruptStreamError(f"secondary header truncated: need {SECONDARY_HEADER_SIZE} octets "
                                     f"at offset {offset}, have {len(data) - offset}")
        coarse, fine, scene_id, chunk_index, prefix, rtype = _SEC_STRUCT.unpack_from(data, offset)
        if rtype not in RECORD_TYPES:
            raise CorruptStreamError(f"secondary header record type {rtype} not one of {RECORD_TYPES}")
        return cls(coarse, fine, scene_id, chunk_index, bytes(prefix), rtype)


@dataclass(frozen=True)
class PrimaryHeader:
    """The 6-octet primary header, decoded."""

    version: int
    packet_type: int
    sec_header_flag: bool
    apid: int
    sequence_flags: int
    sequence_count: int
    data_length: int  # octets in the packet data field (the wire field holds this minus one)

    @property
    def packet_length(self) -> int:
        return PRIMARY_HEADER_SIZE + self.data_length

    @classmethod
    def unpack(cls, data: bytes, offset: int = 0) -> "PrimaryHeader":
        if len(data) < offset + PRIMARY_HEADER_SIZE:
            raise CorruptStreamError(f"packet primary header truncated: need {PRIMARY_HEADER_SIZE} octets "
                                     f"at offset {offset}, have {max(0, len(data) - offset)}")
        w0, w1, w2 = _PRIMARY_STRUCT.unpack_from(data, offset)
        return cls(version=w0 >> 13, packet_type=(w0 >> 12) & 1, sec_header_flag=bool((w0 >> 11) & 1),
                   apid=w0 & APID_MAX, sequence_flags=w1 >> 14,
                   sequence_count=w1 & (SEQ_COUNT_MODULO - 1), data_length=w2 + 1)


def packet_length_at(data: bytes, offset: int = 0) -> int:
    """Total length of the packet whose primary header starts at ``offset`` (needs 6 octets there)."""
    return PRIMARY_HEADER_SIZE + int.from_bytes(data[offset + 4:offset + 6], "big") + 1


@dataclass(frozen=True)
class SpacePacket:
    """One space packet. ``data`` is the user data field (after the secondary header, before the CRC)."""

    apid: int
    sequence_flags: int
    sequence_count: int
    data: bytes
    packet_type: int = PACKET_TYPE_TM
    secondary_header: SecondaryHeader | None = None
    has_crc: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.apid <= APID_MAX:
            raise ValueError(f"APID {self.apid} outside 0..{APID_MAX}")
        if self.sequence_flags not in (SEQ_CONTINUATION, SEQ_FIRST, SEQ_LAST, SEQ_UNSEGMENTED):
            raise ValueError(f"sequence flags {self.sequence_flags} not 2 bits")
        if not 0 <= self.sequence_count < SEQ_COUNT_MODULO:
            raise ValueError(f"sequence count {self.sequence_count} outside 0..{SEQ_COUNT_MODULO - 1}")
        if self.packet_type not in (PACKET_TYPE_TM, PACKET_TYPE_TC):
            raise ValueError(f"packet type {self.packet_type} not 0 or 1")
        n = self.data_field_length
        if not 1 <= n <= MAX_DATA_FIELD:
            raise ValueError(f"packet data field of {n} octets outside 1..{MAX_DATA_FIELD}")

    @property
    def data_field_length(self) -> int:
        sec = SECONDARY_HEADER_SIZE if self.secondary_header is not None else 0
        return sec + len(self.data) + (CRC_SIZE if self.has_crc else 0)

    @property
    def packet_length(self) -> int:
        return PRIMARY_HEADER_SIZE + self.data_field_length

    @property
    def is_idle(self) -> bool:
        return self.apid == IDLE_APID

    def pack(self) -> bytes:
        w0 = ((PACKET_VERSION << 13) | (self.packet_type << 12)
              | ((1 if self.secondary_header is not None else 0) << 11) | self.apid)
        w1 = (self.sequence_flags << 14) | self.sequence_count
        out = _PRIMARY_STRUCT.pack(w0, w1, self.data_field_length - 1)
        if self.secondary_header is not None:
            out += self.secondary_header.pack()
        out += bytes(self.data)
        if self.has_crc:
            out += packet_crc(out).to_bytes(CRC_SIZE, "big")
        return out

    @classmethod
    def unpack(cls, data: bytes, has_crc: bool | None = None) -> "SpacePacket":
        """Parse exactly one packet (trailing octets are an error).

        ``has_crc=None`` expects a CRC on every APID but the idle one. Raises CorruptStreamError on a
        short input, a length field that disagrees with the input, a bad version or a CRC mismatch.
        """
        data = bytes(data)
        ph = PrimaryHeader.unpack(data)
        if ph.version != PACKET_VERSION:
            raise CorruptStreamError(f"packet version {ph.version}, expected {PACKET_VERSION}")
        if len(data) != ph.packet_length:
            raise CorruptStreamError(f"packet length field says {ph.packet_length} octets, "
                                     f"input holds {len(data)}")
        if has_crc is None:
            has_crc = ph.apid != IDLE_APID
        end = len(data)
        if has_crc:
            end -= CRC_SIZE
            if end < PRIMARY_HEADER_SIZE:
                raise CorruptStreamError(f"packet of {len(data)} octets too short for its CRC")
            found = int.from_bytes(data[end:], "big")
            computed = packet_crc(data[:end])
            if found != computed:
                raise CorruptStreamError(f"packet CRC mismatch (APID 0x{ph.apid:03X}, count "
                                         f"{ph.sequence_count}): computed 0x{computed:04X}, "
                                         f"stored 0x{found:04X}")
        off = PRIMARY_HEADER_SIZE
        sec = None
        if ph.sec_header_flag:
            if end - off < SECONDARY_HEADER_SIZE:
                raise CorruptStreamError(f"packet data field of {end - off} octets too short for the "
                                         f"{SECONDARY_HEADER_SIZE}-octet secondary header")
            sec = SecondaryHeader.unpack(data, off)
            off += SECONDARY_HEADER_SIZE
        try:
            return cls(apid=ph.apid, sequence_flags=ph.sequence_flags, sequence_count=ph.sequence_count,
                       data=data[off:end], packet_type=ph.packet_type, secondary_header=sec,
                       has_crc=has_crc)
        except ValueError as exc:  # e.g. a data field that is all CRC
            raise CorruptStreamError(f"packet fields invalid: {exc}") from exc


def idle_packet(total_length: int, sequence_count: int = 0) -> SpacePacket:
    """An idle packet (APID 0x7FF, no secondary header, no CRC) of exactly ``total_length`` octets."""
    if not MIN_PACKET_SIZE <= total_length <= PRIMARY_HEADER_SIZE + MAX_DATA_FIELD:
        raise ValueError(f"idle packet length {total_length} outside {MIN_PACKET_SIZE}.."
                         f"{PRIMARY_HEADER_SIZE + MAX_DATA_FIELD}")
    return SpacePacket(apid=IDLE_APID, sequence_flags=SEQ_UNSEGMENTED,
                       sequence_count=sequence_count % SEQ_COUNT_MODULO,
                       data=bytes([IDLE_FILL_OCTET]) * (total_length - PRIMARY_HEADER_SIZE), has_crc=False)
