"""CCSDS Reed-Solomon (255,223), E = 16 (CCSDS 131.0-B, section 4).

Code parameters: GF(2^8) with field polynomial F(x) = x^8 + x^7 + x^2 + x + 1 (0x187); code generator
g(x) = prod_{j=112}^{143} (x - alpha^(11 j)), i.e. first consecutive root 112 and primitive element power 11.
In ``reedsolo`` terms that is ``RSCodec(32, nsize=255, fcr=112, prim=0x187, generator=173)``: reedsolo's
``generator`` is the field element used as the base of its log tables and of the roots, and
alpha^11 = 173 in this field (the tests check both).

* ``basis="dual"`` (what CCSDS puts on the wire): symbols are in Berlekamp's dual basis. Message octets
  are converted to the conventional basis with Tal^-1 before encoding and the check symbols are converted
  back with Tal (the 8x8 bit matrices of CCSDS 131.0-B Annex F, as libfec's ``Taltab``/``Tal1tab``).
  The message octets on the wire are the caller's octets unchanged.
* ``basis="conventional"``: plain polynomial basis, identical to reedsolo.

Interleaving depth I (1..8): codeblock octet ``j*I + c`` is symbol j of codeword c. Virtual fill
(shortened codewords) is implied by the length: a message of ``k*I`` octets with ``k <= 223`` is encoded
as if preceded by ``223 - k`` zero symbols per codeword that are never transmitted, giving
``(k + 32) * I`` octets.

    >>> block = rs_encode(bytes(range(223)))
    >>> msg, corrected = rs_decode(block[:5] + b"\\x00" + block[6:])
    >>> msg == bytes(range(223)), corrected
    (True, 1)
"""
from __future__ import annotations

import numpy as np

from onboard.errors import UncorrectableError
from onboard.packets import _rs_kernels as _k

RS_N = 255
RS_K = 223
RS_NROOTS = 32
RS_T = 16
RS_FCR = 112
RS_PRIM = 11  # primitive element power: roots are alpha^(11 j)
RS_GFPOLY = 0x187
RS_GENERATOR = 173  # alpha^11, reedsolo's "generator" argument
MAX_INTERLEAVE = 8
BASES = ("dual", "conventional")

# CCSDS 131.0-B Annex F: rows of the Tal matrix (conventional -> dual basis), as in libfec's gen_ccsds_tal.
TAL_ROWS = (0x8D, 0xEF, 0xEC, 0x86, 0xFA, 0x99, 0xAF, 0x7B)


def _gf_mul_slow(a: int, b: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= RS_GFPOLY
    return r


def _build_tables():
    alpha_pow = [1] * 256
    for i in range(1, 256):
        alpha_pow[i] = _gf_mul_slow(alpha_pow[i - 1], 2)
    beta = alpha_pow[RS_PRIM]
    assert beta == RS_GENERATOR
    exp = np.zeros(512, np.int64)
    log = np.zeros(256, np.int64)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x = _gf_mul_slow(x, beta)
    exp[255:510] = exp[:255]
    exp[510:] = exp[:2]

    def mul(a: int, b: int) -> int:
        return 0 if a == 0 or b == 0 else int(exp[log[a] + log[b]])

    # generator polynomial, highest degree first: gen[0] = 1
    gen = [1]
    for j in range(RS_NROOTS):
        root = int(exp[(RS_FCR + j) % 255])
        new = gen + [0]
        for i in range(1, len(new)):
            new[i] ^= mul(gen[i - 1], root)
        gen = new
    # gen = [1, g31, g30, ..., g0]; parity_tab[f, j] = f * gen[j + 1]
    parity_tab = np.zeros((256, RS_NROOTS), np.uint8)
    for f in range(256):
        for j in range(RS_NROOTS):
            parity_tab[f, j] = mul(f, gen[j + 1])
    synd_tab = np.zeros((RS_NROOTS, 256), np.uint8)
    for j in range(RS_NROOTS):
        root = int(exp[(RS_FCR + j) % 255])
        for s in range(256):
            synd_tab[j, s] = mul(s, root)
    taltab = np.zeros(256, np.uint8)
    tal1tab = np.zeros(256, np.uint8)
    for i in range(256):
        v = 0
        for k in range(8):
            if i & (1 << k):
                v ^= TAL_ROWS[7 - k]
        taltab[i] = v
        tal1tab[v] = i
    return exp, log, np.array(gen, np.uint8), parity_tab, synd_tab, taltab, tal1tab


EXP, LOG, GENERATOR_POLY, _PARITY_TAB, _SYND_TAB, TALTAB, TAL1TAB = _build_tables()


def _check(interleave: int, basis: str) -> bool:
    if not isinstance(interleave, (int, np.integer)) or not 1 <= interleave <= MAX_INTERLEAVE:
        raise ValueError(f"interleave depth {interleave!r} outside 1..{MAX_INTERLEAVE}")
    if basis not in BASES:
        raise ValueError(f"basis {basis!r} not one of {BASES}")
    return basis == "dual"


def to_dual_basis(data: bytes) -> bytes:
    """Conventional -> Berlekamp dual basis, octet by octet (Tal)."""
    return TALTAB[np.frombuffer(bytes(data), np.uint8)].tobytes()


def to_conventional_basis(data: bytes) -> bytes:
    """Berlekamp dual basis -> conventional, octet by octet (Tal^-1)."""
    return TAL1TAB[np.frombuffer(bytes(data), np.uint8)].tobytes()


def message_length(interleave: int = 1, virtual_fill: int = 0) -> int:
    """Octets of message per codeblock: (223 - virtual fill) * I."""
    return (RS_K - virtual_fill) * interleave


def codeblock_length(message_octets: int, interleave: int = 1) -> int:
    return message_octets + RS_NROOTS * interleave


def rs_encode_array(messages: np.ndarray, interleave: int = 1, basis: str = "dual") -> np.ndarray:
    """Batch encoder: uint8[N, k*I] -> uint8[N, (k+32)*I]."""
    dual = _check(interleave, basis)
    msgs = np.ascontiguousarray(messages, dtype=np.uint8)
    if msgs.ndim != 2:
        raise ValueError(f"messages must be 2-D (blocks, octets), got shape {msgs.shape}")
    length = msgs.shape[1]
    if length % interleave or not 1 <= length // interleave <= RS_K:
        raise ValueError(f"message of {length} octets is not k*{interleave} with 1 <= k <= {RS_K}")
    k = length // interleave
    out = np.empty((msgs.shape[0], (k + RS_NROOTS) * interleave), np.uint8)
    _k.encode_blocks(msgs, out, interleave, k, _PARITY_TAB, TAL1TAB, TALTAB, dual)
    return out


def rs_decode_array(blocks: np.ndarray, interleave: int = 1, basis: str = "dual"):
    """Batch decoder: uint8[N, n*I] -> (messages uint8[N, (n-32)*I], counts int64[N, I]).

    ``counts[b, c]`` is the number of symbols corrected in codeword c of block b, -1 when uncorrectable
    (that codeword's message octets are then returned as received). Never raises for bad data.
    """
    dual = _check(interleave, basis)
    blk = np.ascontiguousarray(blocks, dtype=np.uint8)
    if blk.ndim != 2:
        raise ValueError(f"codeblocks must be 2-D (blocks, octets), got shape {blk.shape}")
    length = blk.shape[1]
    if length % interleave or not RS_NROOTS + 1 <= length // interleave <= RS_N:
        raise ValueError(f"codeblock of {length} octets is not n*{interleave} with 33 <= n <= {RS_N}")
    n = length // interleave
    out = np.empty((blk.shape[0], (n - RS_NROOTS) * interleave), np.uint8)
    counts = np.zeros((blk.shape[0], interleave), np.int64)
    _k.decode_blocks(blk, out, interleave, n, _SYND_TAB, EXP, LOG, TAL1TAB, TALTAB, dual, counts)
    return out, counts


def rs_encode(message: bytes, interleave: int = 1, basis: str = "dual") -> bytes:
    """Encode one codeblock: ``k*I`` message octets (k = 223 without virtual fill) -> ``(k+32)*I`` octets."""
    arr = np.frombuffer(bytes(message), np.uint8).reshape(1, -1)
    return rs_encode_array(arr, interleave, basis).tobytes()


def rs_decode(codeblock: bytes, interleave: int = 1, basis: str = "dual") -> tuple[bytes, int]:
    """Decode one codeblock; return the message and the total symbols corrected over all I codewords.

    Raises UncorrectableError (carrying the failing codeword numbers) when any codeword has more errors
    than the code can correct; a wrong "corrected" block is never returned.
    """
    arr = np.frombuffer(bytes(codeblock), np.uint8).reshape(1, -1)
    out, counts = rs_decode_array(arr, interleave, basis)
    bad = [int(c) for c in np.flatnonzero(counts[0] < 0)]
    if bad:
        raise UncorrectableError(f"RS codeword(s) {bad} of {interleave} uncorrectable (more than {RS_T} "
                                 f"symbol errors) in a codeblock of {len(codeblock)} octets")
    return out.tobytes(), int(counts[0].sum())
