"""Regenerate tests/golden/entropy_v2.json — run ONLY on purpose, when the stream format or the default tables
change on purpose (then bump the version in the file name and say why in the commit):

    python tests/golden/make_entropy_golden.py

The golden vector pins (1) the exact bytes of a small rANS stream (16 symbols, one of them escaped, fixed table
indexes, default Gaussian tables) and (2) the content hash of the default Gaussian tables. The annotation lists
every 32-bit word of the stream: the two state words, then each renormalisation word with the symbol whose
decoding reads it (traced by a pure-Python decoder written here, independent of the numba kernels).
Stream format v2 (63-bit state, 32-bit words) replaced v1 (32-bit state, 16-bit words) on purpose: v1 lost
0.12 % to the ideal size at 16-bit precision, v2 about 0.02 %.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("entropy_v2.json")

# fixed input: table index i means default_scale_table()[i]; symbol 7 at table 0 (support -1..1) is escaped
INDEXES = [0, 0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 63, 12]
SYMBOLS = [0, 7, -1, 1, 0, -2, 3, -1, 4, -9, 12, 0, -30, 55, -100, 1]


def trace_decode(data: bytes, indexes, tables):
    """Pure-Python decoder that records which symbol reads each renormalisation word."""
    cdfs = tables.cdfs.tolist()
    lengths = tables.cdf_lengths.tolist()
    offsets = tables.offsets.tolist()
    p = tables.precision
    words = list(struct.unpack(f"<{len(data) // 4}I", data))
    x = words[0] | (words[1] << 32)
    pos = 2
    readers: list[str] = []
    out = []

    def renorm(x, who):
        nonlocal pos
        if x < (1 << 31):
            x = (x << 32) | words[pos]
            readers.append(who)
            pos += 1
        return x

    for i, t in enumerate(indexes):
        cum = x & ((1 << p) - 1)
        s = 0
        while cdfs[t][s + 1] <= cum:
            s += 1
        x = (cdfs[t][s + 1] - cdfs[t][s]) * (x >> p) + cum - cdfs[t][s]
        n_real = lengths[t] - 2
        x = renorm(x, f"symbol {i} (table {t})")
        if s < n_real:
            out.append(s + offsets[t])
            continue
        nb = x & 63
        x >>= 6
        x = renorm(x, f"symbol {i} escape length")
        payload, sh = 0, 0
        while sh < nb:
            k = min(16, nb - sh)
            payload |= (x & ((1 << k) - 1)) << sh
            x >>= k
            x = renorm(x, f"symbol {i} escape payload bits {sh}..{sh + k - 1}")
            sh += k
        u = payload + (1 << nb) - 1
        v = -((u + 1) >> 1) if u & 1 else n_real + (u >> 1)
        out.append(v + offsets[t])
    assert x == 1 << 31 and pos == len(words), "golden stream does not end in the initial state"
    return out, words, readers


def main() -> None:
    from onboard.entropy import default_scale_table, encode_with_indexes, gaussian_tables

    tables = gaussian_tables(default_scale_table())
    data = encode_with_indexes(np.array(SYMBOLS, np.int32), np.array(INDEXES, np.int32), tables)
    decoded, words, readers = trace_decode(data, INDEXES, tables)
    assert decoded == SYMBOLS
    state = words[0] | (words[1] << 32)
    layout = [
        {"bytes": "0-3", "word": f"0x{words[0]:08x}", "field": "encoder final state, low 32 bits (little-endian)"},
        {"bytes": "4-7", "word": f"0x{words[1]:08x}", "field": f"encoder final state, high 31 bits "
                                                             f"(state = 0x{state:016x} = decoder initial state)"},
    ]
    for j, who in enumerate(readers):
        b = 8 + 4 * j
        layout.append({"bytes": f"{b}-{b + 3}", "word": f"0x{words[2 + j]:08x}",
                       "field": f"renormalisation word read while decoding {who}"})
    doc = {
        "format": "onboard.entropy rANS stream v2: 63-bit state (2 LE 32-bit words) then 32-bit LE renormalisation "
                  "words in decode order; 16-bit precision; escape = ESCAPE symbol + 6-bit length nb + nb raw bits "
                  "(16-bit chunks, low first); the decoder must end in state 0x80000000 with all words read",
        "tables": "gaussian_tables(default_scale_table()) (64 scales exp(linspace(log 0.11, log 256, 64)), "
                  "precision 16, tail_mass 1e-9)",
        "tables_content_hash": tables.content_hash,
        "symbols": SYMBOLS,
        "indexes": INDEXES,
        "escaped_positions": [i for i, (s, t) in enumerate(zip(SYMBOLS, INDEXES))
                              if not (tables.offsets[t] <= s < tables.offsets[t] + tables.cdf_lengths[t] - 2)],
        "stream_hex": data.hex(),
        "stream_nbytes": len(data),
        "layout": layout,
        "regenerate": "python tests/golden/make_entropy_golden.py (on purpose only)",
    }
    OUT.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {OUT} ({len(data)} stream bytes, tables {tables.content_hash[:16]})")


if __name__ == "__main__":
    main()
