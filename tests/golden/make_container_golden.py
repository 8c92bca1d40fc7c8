"""Regenerate tests/golden/container_v1.json — ONLY on purpose, when the container format changes on purpose
(then bump BITSTREAM_VERSION, the file name, and say why in the commit):

    python tests/golden/make_container_golden.py

Pins the exact bytes of a small coded-scene container (scene header with per-band ranges, two chunk records),
annotated field by field from the layout in onboard/container.py.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

OUT = Path(__file__).with_name("container_v1.json")
OUT_KLT = Path(__file__).with_name("container_v1_klt.json")
OUT_KLT_SHIFT = Path(__file__).with_name("container_v1_klt_shift.json")
OUT_TRANSFER = Path(__file__).with_name("container_v1_transfer.json")


def scene():
    from onboard.container import Chunk, CodedScene, SceneHeader, datetime_to_cuc

    coarse, fine = datetime_to_cuc(datetime(2026, 3, 20, 10, 30, 0, 500000, tzinfo=timezone.utc))
    h = SceneHeader(scene_id=0x01020304, height=300, width=200, bands=2, dtype="int16", bit_depth=13,
                    tile_h=256, tile_w=256, cluster_bands=8, n_chunks=2, package_id=bytes(range(32)),
                    cuc_coarse=coarse, cuc_fine=fine, band_ranges=((-50, 4000), (0, 6533)))
    return CodedScene(h, [Chunk(0, b"\x01\x02\x03"), Chunk(1, bytes(200))])


def klt_scene():
    """A 3-band uint16 scene coded as 2 spectral KLT components in clusters of 1 (flags bit3, no ranges)."""
    import numpy as np

    from onboard.container import Chunk, CodedScene, SceneHeader
    from onboard.spectral import SpectralKLT

    klt = SpectralKLT(mean=np.array([1000, 2000, 65535], np.int64),
                      basis_q=np.array([[64, -32], [96, 16], [-48, 127]], np.int8),
                      basis_step=np.array([0.0078125, 0.00787], np.float32),
                      centre=np.array([-12.5, 3.0], np.float32), scale=4096.0)
    h = SceneHeader(scene_id=9, height=64, width=64, bands=3, dtype="uint16", bit_depth=16, tile_h=64,
                    tile_w=64, cluster_bands=1, n_chunks=2, package_id=bytes(32), spectral=klt)
    return CodedScene(h, [Chunk(0, b"\xaa"), Chunk(1, b"\xbb\xcc")])


def klt_shift_scene():
    """A 4-band int16 scene coded as 1 KLT component whose band means are sent divided by 2**5."""
    import numpy as np

    from onboard.container import Chunk, CodedScene, SceneHeader
    from onboard.spectral import SpectralKLT

    klt = SpectralKLT(mean=np.array([-320, 0, 4096, 32736], np.int64),
                      basis_q=np.array([[127], [90], [-64], [3]], np.int8),
                      basis_step=np.array([0.0061], np.float32),
                      centre=np.array([7.25], np.float32), scale=30000.0, mean_shift=5)
    h = SceneHeader(scene_id=10, height=64, width=64, bands=4, dtype="int16", bit_depth=16, tile_h=64,
                    tile_w=64, cluster_bands=1, n_chunks=1, package_id=bytes(32), spectral=klt)
    return CodedScene(h, [Chunk(0, b"\x5a")])


def transfer_scene():
    """A 3-band uint16 scene whose range-normalised bands were coded through the power-law transfer
    ``t ** 0.7`` (flags bit0 and bit4: band ranges, then the transfer table)."""
    from onboard.container import Chunk, CodedScene, SceneHeader

    h = SceneHeader(scene_id=11, height=64, width=64, bands=3, dtype="uint16", bit_depth=14, tile_h=64,
                    tile_w=64, cluster_bands=0, n_chunks=1, package_id=bytes(32),
                    band_ranges=((477, 7818), (600, 6000), (0, 16383)), transfer_milli=700)
    return CodedScene(h, [Chunk(0, b"\x01\x02")])


FIELDS = [("magic", 4), ("version", 1), ("flags", 1), ("scene_id", 4), ("cuc_coarse", 4), ("cuc_fine", 2),
          ("height", 4), ("width", 4), ("bands", 2), ("dtype_code", 1), ("bit_depth", 1), ("tile_h", 2),
          ("tile_w", 2), ("cluster_bands", 1), ("n_chunks", 4), ("package_id", 32), ("reserved", 1),
          ("header_crc", 2)]


def main() -> None:
    write(scene(), OUT)
    write(klt_scene(), OUT_KLT)
    write(klt_shift_scene(), OUT_KLT_SHIFT)
    write(transfer_scene(), OUT_TRANSFER)


def write(s, out: Path) -> None:
    from onboard.container import read_uvarint

    data = s.to_bytes()
    layout, pos = [], 0
    for name, n in FIELDS:
        layout.append({"offset": pos, "octets": n, "field": name, "hex": data[pos:pos + n].hex()})
        pos += n
    if s.header.band_ranges is not None:
        for b in range(s.header.bands):
            kind = "i16" if s.header.dtype == "int16" else "u16"
            layout.append({"offset": pos, "octets": 4, "field": f"band {b} range (lo, hi) as big-endian {kind}",
                           "hex": data[pos:pos + 4].hex()})
            pos += 4
        layout.append({"offset": pos, "octets": 2, "field": "band range table CRC-16",
                       "hex": data[pos:pos + 2].hex()})
        pos += 2
    if s.header.spectral is not None:
        n = int.from_bytes(data[pos + 2:pos + 6], "big")
        for name, m in [("KLT mean shift (u8; 0 in tables written before it existed, when this and the next "
                         "octet were a u16 K)", 1), ("KLT component count K (u8)", 1),
                        ("zlib stream octets n (u32)", 4),
                        ("zlib stream: zigzag varint band-mean differences (means / 2**shift), f32 centres, "
                         "f32 scale, f32 basis "
                         "steps, zigzag varint basis row differences", n), ("KLT table CRC-16", 2)]:
            layout.append({"offset": pos, "octets": m, "field": name, "hex": data[pos:pos + m].hex()})
            pos += m
    if s.header.transfer_milli is not None:
        layout.append({"offset": pos, "octets": 2, "field": "transfer exponent in thousandths (u16)",
                       "hex": data[pos:pos + 2].hex()})
        layout.append({"offset": pos + 2, "octets": 2, "field": "transfer table CRC-16",
                       "hex": data[pos + 2:pos + 4].hex()})
        pos += 4
    for c in s.chunks:
        idx, p2 = read_uvarint(data, pos)
        layout.append({"offset": pos, "octets": p2 - pos, "field": f"chunk index varint ({idx})",
                       "hex": data[pos:p2].hex()})
        ln, p3 = read_uvarint(data, p2)
        layout.append({"offset": p2, "octets": p3 - p2, "field": f"chunk length varint ({ln})",
                       "hex": data[p2:p3].hex()})
        layout.append({"offset": p3, "octets": 4, "field": "chunk CRC32 (index, length octets and payload)",
                       "hex": data[p3:p3 + 4].hex()})
        layout.append({"offset": p3 + 4, "octets": ln, "field": f"chunk {idx} payload",
                       "hex": data[p3 + 4:p3 + 4 + ln].hex()})
        pos = p3 + 4 + ln
    assert pos == len(data)
    import zlib

    out.write_text(json.dumps({"format": "onboard.container coded scene, bitstream version 1",
                               "zlib_version": zlib.ZLIB_RUNTIME_VERSION,
                               "container_hex": data.hex(), "nbytes": len(data), "layout": layout,
                               "regenerate": "python tests/golden/make_container_golden.py (on purpose only)"},
                              indent=1) + "\n")
    print(f"wrote {out} ({len(data)} octets)")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
