"""CCSDS packets, TM transfer frames, Reed-Solomon, randomizer: everything the downlink puts on the wire.

Pipeline: ``CodedScene`` -> :func:`packetize` (space packets, CCSDS 133.0-B-2) -> :class:`Framer`
(TM transfer frames, 132.0-B-3) -> :func:`rs_encode` (RS(255,223) x I, 131.0-B) -> :func:`randomize` ->
``ASM`` + codeblock. :func:`downlink_frames` does it all for one scene; :class:`Downlinker` keeps the
counters running over many scenes. The ground side (``ground.recover``) undoes it.
"""
from __future__ import annotations

from onboard.errors import CorruptStreamError, UncorrectableError
from onboard.packets.downlink import (
    DEFAULT_INTERLEAVE, Downlinker, FrameEncoder, cadu_length, downlink_frames, validate_frame_length,
)
from onboard.packets.packetizer import (
    DEFAULT_APID, DEFAULT_HEADER_COPIES, DEFAULT_MAX_PACKET_DATA, SequenceCounter, packetize,
)
from onboard.packets.randomizer import ASM, ASM_SIZE, derandomize, pn_sequence, randomize
from onboard.packets.reed_solomon import (
    MAX_INTERLEAVE, RS_K, RS_N, RS_NROOTS, RS_T, rs_decode, rs_decode_array, rs_encode, rs_encode_array,
)
from onboard.packets.space_packet import (
    CRC_SIZE, IDLE_APID, PRIMARY_HEADER_SIZE, RECORD_CHUNK, RECORD_SCENE_HEADER, SECONDARY_HEADER_SIZE,
    SEQ_CONTINUATION, SEQ_COUNT_MODULO, SEQ_FIRST, SEQ_LAST, SEQ_UNSEGMENTED, SecondaryHeader, SpacePacket,
    idle_packet, packet_crc,
)
from onboard.packets.tm_frame import (
    DEFAULT_FRAME_LENGTH, DEFAULT_SCID, DEFAULT_VCID, FECF_SIZE, FHP_IDLE, FHP_NO_PACKET_START,
    FRAME_HEADER_SIZE, IDLE_VCID, Framer, MasterChannel, TransferFrame, frames_from_packets,
)

__all__ = [
    "SpacePacket", "SecondaryHeader", "idle_packet", "packet_crc", "packetize", "SequenceCounter",
    "TransferFrame", "Framer", "MasterChannel", "frames_from_packets",
    "rs_encode", "rs_decode", "rs_encode_array", "rs_decode_array",
    "randomize", "derandomize", "pn_sequence", "ASM", "ASM_SIZE",
    "downlink_frames", "Downlinker", "FrameEncoder", "cadu_length", "validate_frame_length",
    "UncorrectableError", "CorruptStreamError",
    "PRIMARY_HEADER_SIZE", "SECONDARY_HEADER_SIZE", "CRC_SIZE", "IDLE_APID", "SEQ_COUNT_MODULO",
    "SEQ_FIRST", "SEQ_CONTINUATION", "SEQ_LAST", "SEQ_UNSEGMENTED", "RECORD_SCENE_HEADER", "RECORD_CHUNK",
    "FRAME_HEADER_SIZE", "FECF_SIZE", "FHP_IDLE", "FHP_NO_PACKET_START", "DEFAULT_FRAME_LENGTH",
    "DEFAULT_SCID", "DEFAULT_VCID", "IDLE_VCID", "DEFAULT_APID", "DEFAULT_MAX_PACKET_DATA",
    "DEFAULT_HEADER_COPIES", "DEFAULT_INTERLEAVE",
    "RS_N", "RS_K", "RS_NROOTS", "RS_T", "MAX_INTERLEAVE",
]
