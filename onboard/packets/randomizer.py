"""CCSDS pseudo-randomizer and attached sync marker (CCSDS 131.0-B, sections 9 and 10).

The randomizer sequence comes from h(x) = x^8 + x^7 + x^5 + x^3 + 1 with the register set to all ones at
the start of every codeblock; its period is 255 bits, so as octets it repeats every 255 octets and begins
0xFF 0x48 0x0E 0xC0 0x9A 0x0D 0x70 0xBC ... It is XORed onto the whole RS codeblock (after encoding);
the 32-bit ASM 0x1ACFFC1D in front of each codeblock is not randomized. Randomizing is its own inverse.

    >>> pn_sequence(4).hex()
    'ff480ec0'
    >>> derandomize(randomize(b"abc")) == b"abc"
    True
"""
from __future__ import annotations

import numpy as np

ASM = bytes.fromhex("1ACFFC1D")
ASM_SIZE = len(ASM)
PN_PERIOD_OCTETS = 255
_TAPS = (0, 3, 5, 7)  # register bits (LSB first) feeding back: h(x) = x^8 + x^7 + x^5 + x^3 + 1


def _pn_period() -> np.ndarray:
    reg = 0xFF
    bits = []
    for _ in range(8 * PN_PERIOD_OCTETS):
        bits.append(reg & 1)
        fb = 0
        for t in _TAPS:
            fb ^= (reg >> t) & 1
        reg = (reg >> 1) | (fb << 7)
    return np.packbits(np.array(bits, np.uint8))


_PERIOD = _pn_period()
_CACHE: dict[int, np.ndarray] = {}


def pn_sequence(n_octets: int) -> bytes:
    """The first ``n_octets`` of the randomizer sequence."""
    return _pn_array(n_octets).tobytes()


def _pn_array(n: int) -> np.ndarray:
    arr = _CACHE.get(n)
    if arr is None:
        reps = -(-n // PN_PERIOD_OCTETS)
        arr = np.tile(_PERIOD, max(reps, 1))[:n]
        if len(_CACHE) < 64:
            _CACHE[n] = arr
    return arr


def randomize(data: bytes) -> bytes:
    """XOR ``data`` with the randomizer sequence (restarting at the first octet)."""
    a = np.frombuffer(bytes(data), np.uint8)
    return (a ^ _pn_array(len(a))).tobytes()


derandomize = randomize
