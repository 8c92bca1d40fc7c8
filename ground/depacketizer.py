"""Ground packet layer: virtual-channel demultiplexing, packet extraction, gap detection, chunk reassembly.

:class:`VirtualChannelDemux` turns transfer frames into packed space packets. Per (SCID, VCID) it follows
the virtual channel frame count; a jump is a frame gap, and the packet that was being assembled across
it is dropped. After a gap (or at the start) it resynchronises on the first header pointer of the next
frame that has one, exactly as CCSDS 132.0-B-3 intends.

:class:`Reassembler` checks each packet's CRC, follows the per-APID sequence count (a jump is a packet
sequence gap), joins first/continuation/last segments into records and turns records into scene headers
and chunks, verified by their own CRCs (``SceneHeader.unpack``, ``Chunk.unpack``). Every packet carries
the scene id and chunk index in its secondary header, so a chunk whose record cannot be completed is still
named in ``corrupted``. Nothing here raises on bad input.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from onboard.container import Chunk, CodedScene, SceneHeader
from onboard.errors import CorruptStreamError, SceneHeaderLostError
from onboard.packets.space_packet import (
    PACKET_VERSION, PRIMARY_HEADER_SIZE, RECORD_CHUNK, RECORD_SCENE_HEADER,
    SEQ_COUNT_MODULO, SEQ_FIRST, SEQ_LAST, SEQ_UNSEGMENTED, PrimaryHeader, SecondaryHeader, SpacePacket,
    packet_length_at,
)
from onboard.packets.tm_frame import COUNT_MODULO, FHP_IDLE, FHP_NO_PACKET_START, TransferFrame


@dataclass
class PacketStats:
    frame_gaps: int = 0              # frames missing according to the VC frame counts
    frames_bad_fhp: int = 0          # first header pointer outside the data field
    packets_ok: int = 0              # product packets whose CRC checked
    packets_crc_failed: int = 0      # CRC mismatch or malformed packet
    packets_idle: int = 0
    packets_incomplete: int = 0      # cut by a frame gap or inconsistent with a first header pointer
    packet_sequence_gaps: int = 0    # packets missing according to the per-APID sequence counts
    records_incomplete: int = 0      # segmented records missing a segment
    records_failed: int = 0          # complete records failing their own check (chunk CRC32, header CRC)
    records_conflicting: int = 0     # records naming a scene id already used by another package


@dataclass
class RecoveredScene:
    """What reached the ground of one scene."""

    scene_id: int
    header: SceneHeader | None = None
    chunks: dict[int, Chunk] = field(default_factory=dict)
    corrupted: set[int] = field(default_factory=set)
    header_copies: int = 0
    package_prefix: bytes | None = None

    @property
    def missing(self) -> list[int] | None:
        """Chunk indexes not recovered intact (None while the header is unknown)."""
        if self.header is None:
            return None
        return [i for i in range(self.header.n_chunks) if i not in self.chunks]

    @property
    def complete(self) -> bool:
        return self.header is not None and not self.missing

    def to_coded_scene(self) -> CodedScene:
        """Header + the intact chunks in index order. Raises SceneHeaderLostError without a header."""
        if self.header is None:
            raise SceneHeaderLostError(f"scene {self.scene_id}: no copy of the scene header was recovered "
                                       f"({len(self.chunks)} intact chunks are held)")
        return CodedScene(self.header, [self.chunks[i] for i in sorted(self.chunks)])


@dataclass
class _VcState:
    expected: int | None = None
    partial: bytearray | None = None  # None: out of sync; else octets of the packet being assembled


def _split_packets(buf: bytes) -> tuple[list[bytes], bytes, bool]:
    """Cut complete packets off the front of ``buf``: (packets, leftover, ok). ok=False on a bad header."""
    out = []
    off = 0
    n = len(buf)
    while n - off >= PRIMARY_HEADER_SIZE:
        if buf[off] >> 5 != PACKET_VERSION:
            return out, b"", False
        length = packet_length_at(buf, off)
        if off + length > n:
            break
        out.append(bytes(buf[off:off + length]))
        off += length
    return out, bytes(buf[off:]), True


class VirtualChannelDemux:
    """Transfer frames -> packed packets, per (SCID, VCID)."""

    def __init__(self, stats: PacketStats) -> None:
        self.stats = stats
        self.vcs: dict[tuple[int, int], _VcState] = {}

    def push(self, frame: TransferFrame) -> list[bytes]:
        st = self.vcs.setdefault((frame.scid, frame.vcid), _VcState())
        if st.expected is not None and frame.vc_count != st.expected:
            self.stats.frame_gaps += (frame.vc_count - st.expected) % COUNT_MODULO
            if st.partial:
                self.stats.packets_incomplete += 1
            st.partial = None
        st.expected = (frame.vc_count + 1) % COUNT_MODULO
        data = frame.data
        fhp = frame.first_header_pointer
        if fhp == FHP_IDLE:
            if st.partial:
                self.stats.packets_incomplete += 1
            st.partial = bytearray()
            return []
        if fhp != FHP_NO_PACKET_START and fhp >= len(data):
            self.stats.frames_bad_fhp += 1
            if st.partial:
                self.stats.packets_incomplete += 1
            st.partial = None
            return []
        out: list[bytes] = []
        if st.partial is not None:
            head = data if fhp == FHP_NO_PACKET_START else data[:fhp]
            pkts, leftover, ok = _split_packets(bytes(st.partial) + head)
            out.extend(pkts)
            if fhp == FHP_NO_PACKET_START:
                st.partial = bytearray(leftover) if ok else None
                if not ok:
                    self.stats.packets_incomplete += 1
                return out
            if leftover or not ok:
                self.stats.packets_incomplete += 1
        elif fhp == FHP_NO_PACKET_START:
            return out  # still out of sync: no packet starts here
        pkts, leftover, ok = _split_packets(data[fhp:])
        out.extend(pkts)
        st.partial = bytearray(leftover) if ok else None
        if not ok:
            self.stats.packets_incomplete += 1
        return out


@dataclass
class _Record:
    sec: SecondaryHeader
    parts: list[bytes]


@dataclass
class _ApidState:
    expected: int | None = None
    record: _Record | None = None


class Reassembler:
    """Packed packets -> scene headers and chunks in ``scenes``."""

    def __init__(self, stats: PacketStats, scenes: dict[int, RecoveredScene] | None = None) -> None:
        self.stats = stats
        self.scenes: dict[int, RecoveredScene] = scenes if scenes is not None else {}
        self.apids: dict[int, _ApidState] = {}

    def _scene(self, sec: SecondaryHeader) -> RecoveredScene | None:
        sc = self.scenes.get(sec.scene_id)
        if sc is None:
            sc = self.scenes[sec.scene_id] = RecoveredScene(sec.scene_id, package_prefix=sec.package_prefix)
        elif sc.package_prefix is not None and sc.package_prefix != sec.package_prefix:
            self.stats.records_conflicting += 1
            return None
        return sc

    def _lost(self, sec: SecondaryHeader) -> None:
        if sec.record_type == RECORD_CHUNK:
            sc = self._scene(sec)
            if sc is not None:
                sc.corrupted.add(sec.chunk_index)

    def _abort(self, st: _ApidState) -> None:
        if st.record is not None:
            self.stats.records_incomplete += 1
            self._lost(st.record.sec)
            st.record = None

    def _complete(self, sec: SecondaryHeader, record: bytes) -> None:
        sc = self._scene(sec)
        if sc is None:
            return
        try:
            if sec.record_type == RECORD_SCENE_HEADER:
                header, end = SceneHeader.unpack(record)
                if end != len(record) or header.scene_id != sec.scene_id or \
                        header.package_id[:len(sec.package_prefix)] != sec.package_prefix:
                    raise CorruptStreamError("scene header record disagrees with its packets")
                sc.header_copies += 1
                if sc.header is None:
                    sc.header = header
            else:
                chunk, end = Chunk.unpack(record)
                if end != len(record) or chunk.index != sec.chunk_index:
                    raise CorruptStreamError("chunk record disagrees with its packets")
                if sc.header is not None and chunk.index >= sc.header.n_chunks:
                    raise CorruptStreamError("chunk index beyond the scene's chunk count")
                sc.chunks.setdefault(chunk.index, chunk)
        except (CorruptStreamError, ValueError):
            self.stats.records_failed += 1
            self._lost(sec)

    def push(self, packet: bytes) -> None:
        try:
            p = SpacePacket.unpack(packet)
        except (CorruptStreamError, ValueError):
            self.stats.packets_crc_failed += 1
            try:  # a packet of this APID is lost: its record in progress cannot complete
                ph = PrimaryHeader.unpack(packet)
                st = self.apids.get(ph.apid)
                if st is not None:  # its sequence count stays expected: the loss shows as a gap of one
                    self._abort(st)
            except CorruptStreamError:
                pass
            return
        if p.is_idle:
            self.stats.packets_idle += 1
            return
        self.stats.packets_ok += 1
        st = self.apids.setdefault(p.apid, _ApidState())
        if st.expected is not None and p.sequence_count != st.expected:
            self.stats.packet_sequence_gaps += (p.sequence_count - st.expected) % SEQ_COUNT_MODULO
            self._abort(st)
        st.expected = (p.sequence_count + 1) % SEQ_COUNT_MODULO
        sec = p.secondary_header
        if sec is None:
            self._abort(st)
            return
        flags = p.sequence_flags
        if flags in (SEQ_UNSEGMENTED, SEQ_FIRST):
            self._abort(st)
            if flags == SEQ_UNSEGMENTED:
                self._complete(sec, p.data)
            else:
                st.record = _Record(sec, [p.data])
            return
        rec = st.record
        if rec is None or (rec.sec.scene_id, rec.sec.chunk_index, rec.sec.record_type) != \
                (sec.scene_id, sec.chunk_index, sec.record_type):
            self._abort(st)
            self._lost(sec)  # a segment without its first one: the record cannot be rebuilt
            return
        rec.parts.append(p.data)
        if flags == SEQ_LAST:
            st.record = None
            self._complete(rec.sec, b"".join(rec.parts))

    def finish(self) -> None:
        """End of input: records still open are incomplete."""
        for st in self.apids.values():
            self._abort(st)
        for sc in self.scenes.values():
            sc.corrupted -= set(sc.chunks)
