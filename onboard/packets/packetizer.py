"""Coded scene -> space packets.

A scene becomes a sequence of *records*, each carried by one or more packets of one APID:

* scene-header records: ``SceneHeader.pack()`` (record type 0), sent ``header_copies`` times (default 3):
  the first copy opens the scene's packet stream, the last one closes it and the others sit at evenly
  spaced chunk boundaries in between. Between two consecutive copies there are at least
  ``header_spacing`` octets of other packets (chunk packets, or idle packets added as spacers when the
  scene is too small), and ``header_spacing`` defaults to the frame length, which is more than a frame's
  data field. So no transfer frame carries octets of two copies, and losing any single frame (hence any
  single RS codeblock) loses at most one copy: the scene's metadata always survives.
* chunk records: ``Chunk.pack()`` (index, length, CRC32, payload), one record per chunk, in the scene's
  chunk order. Every record starts on a packet boundary; a record longer than ``max_packet_data`` is split
  into segments flagged first / continuation / last (an unsegmented record has flags 0b11).

Every packet carries the secondary header (CUC acquisition time of the scene, scene id, chunk index or
header copy number, package id prefix, record type) and a CRC-16. Sequence counts are per APID (14 bits,
wrapping) and come from a :class:`SequenceCounter`, so a stream of many scenes keeps counting.
"""
from __future__ import annotations

from onboard.container import Chunk, CodedScene
from onboard.packets.space_packet import (
    CRC_SIZE, IDLE_APID, MAX_DATA_FIELD, MIN_PACKET_SIZE, PACKAGE_PREFIX_SIZE, PRIMARY_HEADER_SIZE,
    RECORD_CHUNK, RECORD_SCENE_HEADER, SECONDARY_HEADER_SIZE, SEQ_CONTINUATION, SEQ_COUNT_MODULO,
    SEQ_FIRST, SEQ_LAST, SEQ_UNSEGMENTED, SecondaryHeader, SpacePacket, idle_packet,
)

DEFAULT_APID = 0x100
DEFAULT_MAX_PACKET_DATA = 4096  # user data octets per packet (secondary header and CRC not counted)
DEFAULT_HEADER_COPIES = 3
DEFAULT_HEADER_SPACING = 1115  # octets; the default TM frame length
MAX_USER_DATA = MAX_DATA_FIELD - SECONDARY_HEADER_SIZE - CRC_SIZE
_MAX_IDLE_PACKET = PRIMARY_HEADER_SIZE + MAX_DATA_FIELD


class SequenceCounter:
    """Per-APID 14-bit packet sequence counters that persist across scenes.

    >>> c = SequenceCounter({0x100: 16383})
    >>> c.next(0x100), c.next(0x100)
    (16383, 0)
    """

    def __init__(self, start: dict[int, int] | None = None) -> None:
        self._next: dict[int, int] = {k: v % SEQ_COUNT_MODULO for k, v in (start or {}).items()}

    def next(self, apid: int) -> int:
        n = self._next.get(apid, 0)
        self._next[apid] = (n + 1) % SEQ_COUNT_MODULO
        return n

    def peek(self, apid: int) -> int:
        return self._next.get(apid, 0)

    def as_dict(self) -> dict[int, int]:
        return dict(self._next)


def _counter(seq_counter: SequenceCounter | int | None, apid: int) -> SequenceCounter:
    if seq_counter is None:
        return SequenceCounter()
    if isinstance(seq_counter, SequenceCounter):
        return seq_counter
    return SequenceCounter({apid: int(seq_counter)})


def record_packets(record: bytes, sec: SecondaryHeader, *, apid: int, max_packet_data: int,
                   counter: SequenceCounter) -> list[SpacePacket]:
    """Split one record into packets with first/continuation/last flags (0b11 when it fits one)."""
    if not record:
        raise ValueError("a record must hold at least one octet")
    pieces = [record[i:i + max_packet_data] for i in range(0, len(record), max_packet_data)]
    out = []
    for k, piece in enumerate(pieces):
        if len(pieces) == 1:
            flags = SEQ_UNSEGMENTED
        elif k == 0:
            flags = SEQ_FIRST
        elif k == len(pieces) - 1:
            flags = SEQ_LAST
        else:
            flags = SEQ_CONTINUATION
        out.append(SpacePacket(apid=apid, sequence_flags=flags, sequence_count=counter.next(apid),
                               data=piece, secondary_header=sec))
    return out


def idle_spacer(n_octets: int, counter: SequenceCounter) -> list[SpacePacket]:
    """Idle packets totalling at least ``n_octets`` (exactly, when n_octets >= 7)."""
    out = []
    remaining = max(n_octets, MIN_PACKET_SIZE)
    while remaining > 0:
        size = min(remaining, _MAX_IDLE_PACKET)
        if 0 < remaining - size < MIN_PACKET_SIZE:
            size = remaining - MIN_PACKET_SIZE
        out.append(idle_packet(size, counter.next(IDLE_APID)))
        remaining -= size
    return out


def packetize(coded: CodedScene, apid: int = DEFAULT_APID, max_packet_data: int = DEFAULT_MAX_PACKET_DATA,
              seq_counter: SequenceCounter | int | None = None, *,
              header_copies: int = DEFAULT_HEADER_COPIES,
              header_spacing: int = DEFAULT_HEADER_SPACING) -> list[SpacePacket]:
    """Packets for one scene: header copies spread over the stream, one record per chunk.

    ``seq_counter``: a :class:`SequenceCounter` (updated in place, for continuous streams), an int (first
    sequence count of ``apid`` for this call) or None (start at 0). Idle spacer packets (APID 0x7FF) are
    inserted only when the chunks between two header copies total fewer than ``header_spacing`` octets.
    """
    if apid == IDLE_APID or not 0 <= apid < IDLE_APID:
        raise ValueError(f"product APID {apid} must be in 0..0x7FE (0x7FF is the idle APID)")
    if not 1 <= max_packet_data <= MAX_USER_DATA:
        raise ValueError(f"max_packet_data {max_packet_data} outside 1..{MAX_USER_DATA}")
    if header_copies < 1:
        raise ValueError(f"header_copies must be >= 1, got {header_copies}")
    if header_spacing < 0:
        raise ValueError(f"header_spacing must be >= 0, got {header_spacing}")
    counter = _counter(seq_counter, apid)
    h = coded.header
    prefix = bytes(h.package_id[:PACKAGE_PREFIX_SIZE])
    header_record = h.pack()

    def sec(index: int, rtype: int) -> SecondaryHeader:
        return SecondaryHeader(h.cuc_coarse, h.cuc_fine, h.scene_id, index, prefix, rtype)

    # Where the header copies go: before chunk position p (0..n); copy 0 first, copy N-1 after the last.
    n = len(coded.chunks)
    sizes = [len(c.pack()) for c in coded.chunks]
    total = sum(sizes)
    cum = [0]
    for s in sizes:
        cum.append(cum[-1] + s)
    positions = []
    for j in range(header_copies):
        if j == 0:
            positions.append(0)
        elif j == header_copies - 1:
            positions.append(n)
        else:
            target = total * j / (header_copies - 1)
            p = next((i for i in range(n + 1) if cum[i] >= target), n)
            positions.append(max(p, positions[-1]))

    out: list[SpacePacket] = []
    since_last_copy = 0
    copy = 0
    for i in range(n + 1):
        while copy < header_copies and positions[copy] == i:
            if copy > 0 and since_last_copy < header_spacing:
                out.extend(idle_spacer(header_spacing - since_last_copy, counter))
            out.extend(record_packets(header_record, sec(copy, RECORD_SCENE_HEADER), apid=apid,
                                      max_packet_data=max_packet_data, counter=counter))
            since_last_copy = 0
            copy += 1
        if i < n:
            chunk: Chunk = coded.chunks[i]
            pkts = record_packets(chunk.pack(), sec(chunk.index, RECORD_CHUNK), apid=apid,
                                  max_packet_data=max_packet_data, counter=counter)
            out.extend(pkts)
            since_last_copy += sum(p.packet_length for p in pkts)
    return out
