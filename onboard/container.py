"""The coded-scene container: a versioned scene header followed by independent chunks.

Binary layout (all integers big-endian, field widths are the named constants below)::

    SceneHeader (fixed part, HEADER_FIXED_SIZE = 72 octets)
      magic            4  b"SCMP"
      version          1  BITSTREAM_VERSION
      flags            1  bit0: per-band ranges present; bit1: the input was 2-D (H, W), decode to 2-D;
                          bit2: band order table present (clusters chosen from inter-band correlation);
                          bit3: spectral KLT table present (the chunks code KLT components, not bands);
                          bit4: transfer table present (the range-normalised bands were companded)
      scene_id         4  u32
      cuc_coarse       4  u32 seconds since the CCSDS epoch 1958-01-01 (UTC scale, no leap seconds)
      cuc_fine         2  u16 units of 2**-16 s
      height           4  u32
      width            4  u32
      bands            2  u16
      dtype_code       1  0 uint8, 1 uint16, 2 int16
      bit_depth        1  significant bits (1..16)
      tile_h           2  u16
      tile_w           2  u16
      cluster_bands    1  0 for an image package, B for a clustered one
      n_chunks         4  u32
      package_id      32  sha256 digest of the model package
      reserved         1  0
      header_crc       2  CRC-16-CCITT of the octets above (binascii.crc_hqx, init 0xFFFF)
    per-band ranges (only when flags bit0): bands x (lo, hi), each 16 bits (u16 for unsigned dtypes, i16 for
                     int16), followed by CRC-16 of that table
    band order (only when flags bit2): bands x u16, the scene band fed at each position of the clustered
                     stream (a permutation of 0..bands-1; clusters are consecutive positions), then CRC-16
    spectral KLT (only when flags bit3): the table of :meth:`onboard.spectral.SpectralKLT.pack` (mean shift,
                     K, then in zlib the band means, component centres, common scale, per-component basis steps
                     and the C x K int8 basis; CRC-16); the chunks then
                     code K components in clusters of B (``n_clusters = ceil(K / B)``) and the band ranges
                     are not sent (the ground clips to the declared bit depth)
    transfer (only when flags bit4, only with per-band ranges): u16 exponent in thousandths, then CRC-16; the
                     encoder coded ``t ** (exponent / 1000)`` of each range-normalised value t in [0, 1] and the
                     ground raises its reconstruction to ``1000 / exponent`` before undoing the ranges
    Chunk records, n_present of them, each (5 to 14 octets of overhead, 7 for a typical chunk):
      index          1-5  unsigned LEB128 varint: chunk index (tile-major, cluster-minor)
      length         1-5  unsigned LEB128 varint: payload octets
      crc32            4  zlib.crc32 of the index and length octets and the payload (big-endian)
      payload   length

A chunk index maps to its position: ``tile = index // n_clusters``, ``cluster = index % n_clusters``,
``tile_row, tile_col = divmod(tile, n_tile_cols)``. The header alone (``SceneHeader.pack()``) is what
packets repeat so that losing any single frame never loses the scene's metadata.

Example:
    >>> h = SceneHeader(scene_id=7, height=4, width=4, bands=1, dtype="uint8", bit_depth=8,
    ...                 tile_h=4, tile_w=4, cluster_bands=0, n_chunks=1, package_id=bytes(32))
    >>> scene = CodedScene(h, [Chunk(0, b"abc")])
    >>> CodedScene.from_bytes(scene.to_bytes()) == scene
    True
"""
from __future__ import annotations

import binascii
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from onboard.errors import CorruptStreamError
from onboard.spectral import SpectralKLT

MAGIC = b"SCMP"
BITSTREAM_VERSION = 1
CCSDS_EPOCH = datetime(1958, 1, 1, tzinfo=timezone.utc)

_HEADER_STRUCT = struct.Struct(">4sBBIIHIIHBBHHBI32sB")
HEADER_BODY_SIZE = _HEADER_STRUCT.size  # 70
HEADER_CRC_SIZE = 2
HEADER_FIXED_SIZE = HEADER_BODY_SIZE + HEADER_CRC_SIZE  # 72
BAND_RANGE_SIZE = 4  # lo + hi, 16 bits each (every supported dtype fits 16 bits)
FLAG_BAND_RANGES = 0x01
FLAG_2D = 0x02
FLAG_BAND_ORDER = 0x04
FLAG_SPECTRAL_KLT = 0x08
FLAG_TRANSFER = 0x10
KNOWN_FLAGS = FLAG_BAND_RANGES | FLAG_2D | FLAG_BAND_ORDER | FLAG_SPECTRAL_KLT | FLAG_TRANSFER
TRANSFER_SIZE = 2  # u16 exponent in thousandths
CHUNK_CRC_SIZE = 4
MAX_VARINT_OCTETS = 5  # enough for any u32
PACKAGE_ID_SIZE = 32

DTYPE_CODES = {"uint8": 0, "uint16": 1, "int16": 2}
DTYPE_NAMES = {v: k for k, v in DTYPE_CODES.items()}
_DTYPE_LIMITS = {"uint8": (0, 255), "uint16": (0, 65535), "int16": (-32768, 32767)}
_RANGE_FORMAT = {"uint8": "H", "uint16": "H", "int16": "h"}


def crc16(data: bytes) -> int:
    """CRC-16-CCITT (poly 0x1021, init 0xFFFF) as CCSDS uses it."""
    return binascii.crc_hqx(data, 0xFFFF)


def datetime_to_cuc(t: datetime) -> tuple[int, int]:
    """UTC datetime -> (coarse seconds since 1958-01-01, fine in 2**-16 s)."""
    if t.tzinfo is None:
        raise ValueError("acquisition time must be timezone-aware (UTC)")
    delta = t.astimezone(timezone.utc) - CCSDS_EPOCH
    total_us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    coarse, rem_us = divmod(total_us, 1_000_000)
    fine = (rem_us * 65536) // 1_000_000
    return int(coarse), int(fine)


def cuc_to_datetime(coarse: int, fine: int) -> datetime:
    """Inverse of :func:`datetime_to_cuc` (to the microsecond)."""
    return CCSDS_EPOCH + timedelta(seconds=coarse, microseconds=(fine * 1_000_000) // 65536)


@dataclass(frozen=True)
class SceneHeader:
    """Everything needed to place and decode the chunks of one scene."""

    scene_id: int
    height: int
    width: int
    bands: int
    dtype: str
    bit_depth: int
    tile_h: int
    tile_w: int
    cluster_bands: int
    n_chunks: int
    package_id: bytes
    cuc_coarse: int = 0
    cuc_fine: int = 0
    band_ranges: tuple[tuple[int, int], ...] | None = None
    two_d: bool = False
    band_order: tuple[int, ...] | None = None
    spectral: SpectralKLT | None = None
    transfer_milli: int | None = None
    version: int = BITSTREAM_VERSION

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"dtype {self.dtype!r} not one of {sorted(DTYPE_CODES)}")
        if len(self.package_id) != PACKAGE_ID_SIZE:
            raise ValueError(f"package_id must be {PACKAGE_ID_SIZE} octets, got {len(self.package_id)}")
        if self.band_ranges is not None and len(self.band_ranges) != self.bands:
            raise ValueError(f"band_ranges has {len(self.band_ranges)} entries for {self.bands} bands")
        if not (1 <= self.bit_depth <= 16):
            raise ValueError(f"bit_depth {self.bit_depth} outside 1..16")
        if self.tile_h <= 0 or self.tile_w <= 0 or self.height <= 0 or self.width <= 0 or self.bands <= 0:
            raise ValueError("height, width, bands and tile sizes must be positive")
        if self.band_order is not None and sorted(self.band_order) != list(range(self.bands)):
            raise ValueError(f"band_order must be a permutation of 0..{self.bands - 1}")
        if self.spectral is not None:
            if self.spectral.n_bands != self.bands:
                raise ValueError(f"KLT table is for {self.spectral.n_bands} bands, the scene has {self.bands}")
            if self.band_order is not None:
                raise ValueError("a scene carries either a band order or a spectral KLT, not both")
            if self.cluster_bands == 0:
                raise ValueError("a spectral KLT needs a clustered package (cluster_bands > 0)")
        if self.transfer_milli is not None:
            if not 1 <= self.transfer_milli <= 0xFFFF:
                raise ValueError(f"transfer exponent {self.transfer_milli}/1000 outside 1..65535 thousandths")
            if self.band_ranges is None:
                raise ValueError("a transfer exponent applies to range-normalised bands: it needs band ranges")
        if self.two_d and self.bands != 1:
            raise ValueError(f"a 2-D scene has one band, header says {self.bands}")
        if self.band_ranges is not None:
            lo_lim, hi_lim = _DTYPE_LIMITS[self.dtype]
            for b, (lo, hi) in enumerate(self.band_ranges):
                if not (lo_lim <= lo <= hi <= hi_lim):
                    raise ValueError(f"band {b} range ({lo}, {hi}) is not ordered inside {self.dtype} "
                                     f"[{lo_lim}, {hi_lim}]")

    # --- geometry -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Original array shape: (H, W) for a 2-D input, else (H, W, C)."""
        if self.two_d:
            return (self.height, self.width)
        return (self.height, self.width, self.bands)

    @property
    def n_tile_rows(self) -> int:
        return -(-self.height // self.tile_h)

    @property
    def n_tile_cols(self) -> int:
        return -(-self.width // self.tile_w)

    @property
    def transfer_exponent(self) -> float:
        """The exponent the encoder raised each range-normalised value to (1.0: linear, no transfer table)."""
        return 1.0 if self.transfer_milli is None else self.transfer_milli / 1000.0

    @property
    def coded_bands(self) -> int:
        """Planes the chunks code: the K KLT components with a spectral table, else the bands."""
        return self.spectral.n_components if self.spectral is not None else self.bands

    @property
    def n_clusters(self) -> int:
        if self.cluster_bands == 0:
            return 1
        return -(-self.coded_bands // self.cluster_bands)

    def chunk_position(self, index: int) -> tuple[int, int, int]:
        """Chunk index -> (tile_row, tile_col, cluster)."""
        if not 0 <= index < self.n_chunks:
            raise IndexError(f"chunk index {index} outside 0..{self.n_chunks - 1}")
        tile, cluster = divmod(index, self.n_clusters)
        row, col = divmod(tile, self.n_tile_cols)
        return row, col, cluster

    def chunk_index(self, tile_row: int, tile_col: int, cluster: int = 0) -> int:
        return (tile_row * self.n_tile_cols + tile_col) * self.n_clusters + cluster

    @property
    def acquisition_time(self) -> datetime:
        return cuc_to_datetime(self.cuc_coarse, self.cuc_fine)

    @property
    def package_id_hex(self) -> str:
        return self.package_id.hex()

    # --- bytes ----------------------------------------------------------------------------------
    def pack(self) -> bytes:
        flags = ((FLAG_BAND_RANGES if self.band_ranges is not None else 0) | (FLAG_2D if self.two_d else 0)
                 | (FLAG_BAND_ORDER if self.band_order is not None else 0)
                 | (FLAG_SPECTRAL_KLT if self.spectral is not None else 0)
                 | (FLAG_TRANSFER if self.transfer_milli is not None else 0))
        body = _HEADER_STRUCT.pack(
            MAGIC, self.version, flags, self.scene_id, self.cuc_coarse, self.cuc_fine,
            self.height, self.width, self.bands, DTYPE_CODES[self.dtype], self.bit_depth,
            self.tile_h, self.tile_w, self.cluster_bands, self.n_chunks, self.package_id, 0,
        )
        out = body + crc16(body).to_bytes(2, "big")
        if self.band_ranges is not None:
            fmt = _RANGE_FORMAT[self.dtype]
            out += _with_crc(struct.pack(f">{2 * self.bands}{fmt}", *(v for pair in self.band_ranges for v in pair)))
        if self.band_order is not None:
            out += _with_crc(struct.pack(f">{self.bands}H", *self.band_order))
        if self.spectral is not None:
            out += self.spectral.pack(self.dtype)
        if self.transfer_milli is not None:
            out += _with_crc(struct.pack(">H", self.transfer_milli))
        return out

    @classmethod
    def unpack(cls, data: bytes, offset: int = 0) -> tuple["SceneHeader", int]:
        """Parse a header at ``offset``; return it and the offset just past it."""
        data = bytes(data)
        end = offset + HEADER_FIXED_SIZE
        if len(data) < end:
            raise CorruptStreamError(f"scene header truncated: need {HEADER_FIXED_SIZE} octets at "
                                     f"offset {offset}, have {len(data) - offset}")
        body = data[offset:offset + HEADER_BODY_SIZE]
        crc_found = int.from_bytes(data[offset + HEADER_BODY_SIZE:end], "big")
        if crc16(body) != crc_found:
            raise CorruptStreamError(f"scene header CRC mismatch: computed 0x{crc16(body):04X}, "
                                     f"stored 0x{crc_found:04X}")
        (magic, version, flags, scene_id, coarse, fine, h, w, c, dcode, bit_depth, th, tw, cb, n,
         pkg, _reserved) = _HEADER_STRUCT.unpack(body)
        if magic != MAGIC:
            raise CorruptStreamError(f"bad magic {magic!r}, expected {MAGIC!r}")
        if version != BITSTREAM_VERSION:
            raise CorruptStreamError(f"bitstream version {version} not supported (this build reads "
                                     f"{BITSTREAM_VERSION})")
        if dcode not in DTYPE_NAMES:
            raise CorruptStreamError(f"unknown dtype code {dcode}")
        if flags & ~KNOWN_FLAGS:
            raise CorruptStreamError(f"header flags 0x{flags:02X} name features this build does not know "
                                     f"(known: 0x{KNOWN_FLAGS:02X})")
        ranges = None
        if flags & FLAG_BAND_RANGES:
            table, end = _crc_table(data, end, c * BAND_RANGE_SIZE, "band range")
            vals = struct.unpack(f">{2 * c}{_RANGE_FORMAT[DTYPE_NAMES[dcode]]}", table)
            ranges = tuple((vals[2 * i], vals[2 * i + 1]) for i in range(c))
        order = None
        if flags & FLAG_BAND_ORDER:
            table, end = _crc_table(data, end, 2 * c, "band order")
            order = struct.unpack(f">{c}H", table)
        spectral = None
        if flags & FLAG_SPECTRAL_KLT:
            spectral, end = SpectralKLT.unpack(data, end, c, DTYPE_NAMES[dcode])
        transfer = None
        if flags & FLAG_TRANSFER:
            table, end = _crc_table(data, end, TRANSFER_SIZE, "transfer")
            (transfer,) = struct.unpack(">H", table)
        try:
            header = cls(scene_id=scene_id, height=h, width=w, bands=c, dtype=DTYPE_NAMES[dcode],
                         bit_depth=bit_depth, tile_h=th, tile_w=tw, cluster_bands=cb, n_chunks=n,
                         package_id=pkg, cuc_coarse=coarse, cuc_fine=fine, band_ranges=ranges,
                         two_d=bool(flags & FLAG_2D), band_order=order, spectral=spectral,
                         transfer_milli=transfer, version=version)
        except ValueError as exc:
            raise CorruptStreamError(f"scene header fields invalid: {exc}") from exc
        expected = header.n_tile_rows * header.n_tile_cols * header.n_clusters
        if expected != n:
            raise CorruptStreamError(f"header says {n} chunks but its geometry gives {expected}")
        return header, end


def _with_crc(table: bytes) -> bytes:
    """A header table followed by its CRC-16 (big-endian), as every optional table is sent."""
    return table + crc16(table).to_bytes(2, "big")


def _crc_table(data: bytes, offset: int, size: int, what: str) -> tuple[bytes, int]:
    """The ``size``-octet ``what`` table at ``offset`` checked against the CRC-16 after it; returns it and the
    offset past the CRC. Truncation or a CRC mismatch is a :class:`CorruptStreamError` naming the table."""
    if len(data) < offset + size + 2:
        raise CorruptStreamError(f"{what} table truncated: need {size + 2} octets")
    table = data[offset:offset + size]
    if crc16(table) != int.from_bytes(data[offset + size:offset + size + 2], "big"):
        raise CorruptStreamError(f"{what} table CRC mismatch")
    return table, offset + size + 2


def uvarint(n: int) -> bytes:
    """Unsigned LEB128 of a non-negative int."""
    if n < 0:
        raise ValueError(f"uvarint of a negative number {n}")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_uvarint(data: bytes, pos: int = 0, max_octets: int = MAX_VARINT_OCTETS) -> tuple[int, int]:
    """Parse an unsigned LEB128 at ``pos``; returns (value, position after it). CorruptStreamError when it is
    truncated or longer than ``max_octets``."""
    value = 0
    for i in range(max_octets):
        if pos + i >= len(data):
            raise CorruptStreamError(f"varint truncated at offset {pos + i}")
        b = data[pos + i]
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value, pos + i + 1
    raise CorruptStreamError(f"varint longer than {max_octets} octets at offset {pos}")


@dataclass(frozen=True)
class Chunk:
    """One independently decodable unit: one tile (x one band cluster)."""

    index: int
    payload: bytes

    def pack(self) -> bytes:
        head = uvarint(self.index) + uvarint(len(self.payload))
        crc = zlib.crc32(self.payload, zlib.crc32(head))
        return head + crc.to_bytes(CHUNK_CRC_SIZE, "big") + self.payload

    @classmethod
    def unpack(cls, data: bytes, offset: int = 0) -> tuple["Chunk", int]:
        """Parse one chunk record at ``offset``; raise CorruptStreamError on a CRC or length problem."""
        index, pos = read_uvarint(data, offset)
        length, pos = read_uvarint(data, pos)
        start = pos + CHUNK_CRC_SIZE
        if len(data) < start:
            raise CorruptStreamError(f"chunk record truncated at offset {offset}")
        crc = int.from_bytes(data[pos:start], "big")
        if len(data) < start + length:
            raise CorruptStreamError(f"chunk {index}: payload of {length} octets truncated to "
                                     f"{len(data) - start}")
        payload = bytes(data[start:start + length])
        found = zlib.crc32(payload, zlib.crc32(bytes(data[offset:pos])))
        if found != crc:
            raise CorruptStreamError(f"chunk {index}: CRC32 mismatch (computed 0x{found:08X}, "
                                     f"stored 0x{crc:08X})")
        return cls(index, payload), start + length


@dataclass(frozen=True)
class CodedScene:
    """A scene header and the chunks present (all of them onboard; maybe fewer after a lossy link)."""

    header: SceneHeader
    chunks: list[Chunk] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        return self.header.pack() + b"".join(c.pack() for c in self.chunks)

    @classmethod
    def from_bytes(cls, data: bytes) -> "CodedScene":
        """Parse a full container. Raises CorruptStreamError naming the first problem found."""
        data = bytes(data)
        header, off = SceneHeader.unpack(data)
        chunks = []
        while off < len(data):
            chunk, off = _checked_record(data, off, header.n_chunks)
            chunks.append(chunk)
        return cls(header, chunks)

    @classmethod
    def salvage(cls, data: bytes) -> tuple["CodedScene", list["ContainerDamage"]]:
        """Parse a container that may be damaged, keeping every chunk record whose CRC32 checks.

        The header must be intact (it is the scene's metadata; packets repeat it so a link never loses it):
        a damaged header raises :class:`CorruptStreamError`. A damaged chunk record is skipped: the parser
        scans forward to the next octet where a whole record with a valid CRC32 starts (its own length field
        may be the damaged part). A damaged record thus costs its own chunk and nothing else. Returns the
        scene of the good records and one :class:`ContainerDamage` per skipped stretch (empty for an intact
        container, which parses exactly as :meth:`from_bytes`).

        Example:
            >>> h = SceneHeader(scene_id=1, height=4, width=8, bands=1, dtype="uint8", bit_depth=8,
            ...                 tile_h=4, tile_w=4, cluster_bands=0, n_chunks=2, package_id=bytes(32))
            >>> data = bytearray(CodedScene(h, [Chunk(0, b"abcd"), Chunk(1, b"efgh")]).to_bytes())
            >>> data[HEADER_FIXED_SIZE + 7] ^= 0x01          # a bit of chunk 0's payload
            >>> scene, damage = CodedScene.salvage(bytes(data))
            >>> [c.index for c in scene.chunks], [d.chunk for d in damage]
            ([1], [0])
        """
        data = bytes(data)
        header, off = SceneHeader.unpack(data)
        chunks: list[Chunk] = []
        damage: list[ContainerDamage] = []
        while off < len(data):
            try:
                chunk, off = _checked_record(data, off, header.n_chunks)
            except CorruptStreamError as exc:
                damage.append(ContainerDamage(off, _legible_index(data, off, header.n_chunks), str(exc)))
                off = _next_record(data, off, header.n_chunks)
                continue
            chunks.append(chunk)
        received = {c.index for c in chunks}
        damage = [d if d.chunk not in received else ContainerDamage(d.offset, None, d.reason) for d in damage]
        return cls(header, chunks), damage

    @property
    def chunk_map(self) -> dict[int, Chunk]:
        return {c.index: c for c in self.chunks}

    @property
    def missing_chunks(self) -> list[int]:
        have = {c.index for c in self.chunks}
        return [i for i in range(self.header.n_chunks) if i not in have]

    @property
    def scene_id(self) -> int:
        return self.header.scene_id

    @property
    def package_id(self) -> str:
        return self.header.package_id_hex

    @property
    def nbytes(self) -> int:
        return len(self.to_bytes())

    def bits_per_sample(self) -> float:
        """Coded bits per pixel per band over the whole container, headers included."""
        h = self.header
        return 8.0 * self.nbytes / (h.height * h.width * h.bands)


@dataclass(frozen=True)
class ContainerDamage:
    """A stretch of a container that :meth:`CodedScene.salvage` skipped.

    ``offset``: octet where the damaged record starts; ``chunk``: the chunk index its index field names when
    that is legible, in range and no intact record of that chunk was found (else None: the loss then shows
    only as a missing chunk); ``reason``: what failed."""

    offset: int
    chunk: int | None
    reason: str


def _checked_record(data: bytes, offset: int, n_chunks: int) -> tuple[Chunk, int]:
    chunk, end = Chunk.unpack(data, offset)
    if chunk.index >= n_chunks:
        raise CorruptStreamError(f"chunk index {chunk.index} >= n_chunks {n_chunks}")
    return chunk, end


def _legible_index(data: bytes, offset: int, n_chunks: int) -> int | None:
    try:
        index, _ = read_uvarint(data, offset)
    except CorruptStreamError:
        return None
    return index if index < n_chunks else None


def _next_record(data: bytes, offset: int, n_chunks: int) -> int:
    """Where parsing resumes after a damaged record at ``offset``: the first later octet where a whole record
    with a valid CRC32 and an index below ``n_chunks`` starts, else the end of the data.

    The damaged record's own length field is not trusted: a damaged length can point at a later record
    boundary and would silently skip good records. A false start inside damaged octets needs a random CRC32
    to match (odds 2**-32 per candidate octet); the scan costs about one CRC over the damaged record."""
    for pos in range(offset + 1, len(data)):
        try:
            _checked_record(data, pos, n_chunks)
        except CorruptStreamError:
            continue
        return pos
    return len(data)


def band_ranges_of(image: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Per-band (min, max) of an (H, W, C) integer array as Python ints."""
    flat = image.reshape(-1, image.shape[-1])
    return tuple((int(lo), int(hi)) for lo, hi in zip(flat.min(axis=0), flat.max(axis=0)))
