"""Bit-true transport: the items of a step become real space packets, TM frames and CADUs; lost frames are
dropped, the others get real bit errors, and the real ground recovery (frame sync, RS decoding, FECF,
depacketizing, CRCs) says which items arrived.

Per step (one call of :meth:`BitTrueTransport.send`):

1. every item's record (a chunk record ``Chunk.pack()`` or a scene-header copy) is split into space packets
   with the live per-APID sequence counters, packed into transfer frames of its virtual channel, and the last
   frame closed with idle data; frames are RS encoded, randomized and given the ASM (``onboard.packets``);
2. each CADU is lost with the link's frame loss probability OR a Gilbert–Elliott burst (a failed DVB-S2
   FECFRAME delivers nothing usable); the others cross a binary channel at ``residual_ber`` that the
   RS(255,223) code must correct;
3. ``ground.recover`` processes the received CADUs; a chunk item arrived when its chunk is among the intact
   chunks recovered (CRC32 checked); a header item arrived when a header copy of its scene was recovered in
   this step. What arrived is merged into the :class:`GroundArchive`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ground.recovery import recover
from onboard.container import Chunk, CodedScene, SceneHeader
from onboard.packets.downlink import Downlinker
from onboard.packets.packetizer import record_packets
from onboard.packets.space_packet import (
    CRC_SIZE, PACKAGE_PREFIX_SIZE, PRIMARY_HEADER_SIZE, RECORD_CHUNK, RECORD_SCENE_HEADER,
    SECONDARY_HEADER_SIZE, SecondaryHeader,
)
from sim.accounting import Contact, FramingConfig, Transport
from sim.channel import GilbertElliott, corrupt_frame, frame_losses
from sim.storage import StorageItem

PACKET_OVERHEAD = PRIMARY_HEADER_SIZE + SECONDARY_HEADER_SIZE + CRC_SIZE


@dataclass(frozen=True)
class Record:
    """What one storage item carries: a record, its packet secondary header, APID and virtual channel."""

    data: bytes
    sec: SecondaryHeader
    apid: int
    vcid: int


def scene_records(scene: CodedScene, *, apid: int, vcid: int, header_copies: int = 3
                  ) -> list[tuple[int, Record, int]]:
    """The records of a scene in send order as (item index, record, payload octets counted): header copy 0,
    the chunks, a copy in the middle, the last copy. Chunk items have index = chunk index; header copy j
    has index ``n_chunks + j``. Only header copy 0 counts its octets as payload (the container holds the
    header once)."""
    h = scene.header
    prefix = bytes(h.package_id[:PACKAGE_PREFIX_SIZE])
    header = h.pack()

    def hdr(j: int) -> tuple[int, Record, int]:
        sec = SecondaryHeader(h.cuc_coarse, h.cuc_fine, h.scene_id, j, prefix, RECORD_SCENE_HEADER)
        return (h.n_chunks + j, Record(header, sec, apid, vcid), len(header) if j == 0 else 0)

    out = [hdr(0)]
    chunks = list(scene.chunks)
    mid = len(chunks) // 2
    for k, c in enumerate(chunks):
        if header_copies > 2 and k == mid and k > 0:
            out.append(hdr(1))
        sec = SecondaryHeader(h.cuc_coarse, h.cuc_fine, h.scene_id, c.index, prefix, RECORD_CHUNK)
        rec = c.pack()
        out.append((c.index, Record(rec, sec, apid, vcid), len(rec)))
    if header_copies > 1:
        out.append(hdr(header_copies - 1))
    return out


@dataclass
class GroundArchive:
    """Everything that reached the ground, merged across steps and passes: scene id -> header and chunks."""

    headers: dict[int, SceneHeader] = field(default_factory=dict)
    chunks: dict[int, dict[int, Chunk]] = field(default_factory=dict)
    first_seen_s: dict[int, float] = field(default_factory=dict)
    last_update_s: dict[int, float] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)

    def absorb(self, rec, t_s: float) -> None:
        for sid, s in rec.scenes.items():
            if s.header is not None and sid not in self.headers:
                self.headers[sid] = s.header
            if s.chunks or s.header is not None:
                self.chunks.setdefault(sid, {}).update(s.chunks)
                self.first_seen_s.setdefault(sid, t_s)
                self.last_update_s[sid] = t_s
        for k in ("frames_seen", "frames_ok", "frames_uncorrectable", "rs_corrected_symbols",
                  "frames_fecf_failed", "frame_gaps", "packets_ok", "packets_crc_failed",
                  "packet_sequence_gaps", "records_incomplete", "records_failed"):
            self.stats[k] = self.stats.get(k, 0) + int(getattr(rec, k))

    def scene(self, scene_id: int) -> CodedScene | None:
        """The scene as received so far (None while no header copy arrived)."""
        h = self.headers.get(scene_id)
        if h is None:
            return None
        ch = self.chunks.get(scene_id, {})
        return CodedScene(h, [ch[i] for i in sorted(ch)])


class BitTrueTransport(Transport):
    """See the module docstring. ``register`` tells it the record behind each storage item."""

    def __init__(self, framing: FramingConfig, channel: GilbertElliott | None = None, residual_ber: float = 0.0,
                 *, interleave: int = 5, max_packet_data: int = 4096, scid: int = 0x2A) -> None:
        if framing.packet_overhead_bytes != PACKET_OVERHEAD or framing.max_packet_data_bytes != max_packet_data:
            raise ValueError(f"framing must describe the real packets: overhead {PACKET_OVERHEAD}, "
                             f"max data {max_packet_data}")
        self.framing = framing
        self.channel = channel
        self.residual_ber = residual_ber
        self.max_packet_data = max_packet_data
        self.downlinker = Downlinker(scid=scid, frame_length=framing.frame_bytes, interleave=interleave,
                                     max_packet_data=max_packet_data)
        self.interleave = interleave
        self.records: dict[tuple, Record] = {}
        self.archive = GroundArchive()
        self.ge_state: bool | None = None
        self.cadus_sent = 0

    def register(self, item: StorageItem, record: Record) -> None:
        self.records[item.key] = record

    def channel_bytes(self, item: StorageItem) -> int:
        n = len(self.records[item.key].data)
        return n + PACKET_OVERHEAD * max(1, -(-n // self.max_packet_data))

    def start_contact(self, contact: Contact) -> None:
        self.ge_state = None

    def send(self, items, frame_loss_prob, rng, t_s):
        d = self.downlinker
        frames = []
        vcids = []
        for it in items:
            r = self.records[it.key]
            pkts = record_packets(r.data, r.sec, apid=r.apid, max_packet_data=self.max_packet_data,
                                  counter=d.seq_counter)
            framer = d.framer(r.vcid)
            for p in pkts:
                frames.extend(framer.push(p))
            if r.vcid not in vcids:
                vcids.append(r.vcid)
        for v in vcids:
            frames.extend(d.framer(v).flush())
        cadus = d.encoder.encode_many(frames)
        self.cadus_sent += len(cadus)
        lost, self.ge_state = frame_losses(len(cadus), frame_loss_prob, rng, self.channel, self.ge_state)
        received = [corrupt_frame(c, self.residual_ber, rng) if self.residual_ber > 0 else c
                    for c, bad in zip(cadus, lost) if not bad]
        rec = recover(received, frame_length=self.framing.frame_bytes, interleave=self.interleave)
        self.archive.absorb(rec, t_s)
        item_lost = np.ones(len(items), bool)
        for k, it in enumerate(items):
            r = self.records[it.key]
            s = rec.scenes.get(r.sec.scene_id)
            if s is None:
                continue
            if r.sec.record_type == RECORD_CHUNK:
                item_lost[k] = r.sec.chunk_index not in s.chunks
            else:
                item_lost[k] = s.header_copies == 0
        return item_lost, len(cadus), int(lost.sum())
