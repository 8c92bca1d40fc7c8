"""Numba kernels of the CCSDS Reed-Solomon (255,223) codec. Private: use ``onboard.packets.reed_solomon``.

All arithmetic is in the conventional (polynomial) basis over GF(2^8) with field polynomial 0x187. The
tables use beta = alpha^11 as the logarithm base (exp[i] = beta^i), so the code's roots are
beta^(FCR + j), j = 0..31, exactly as in reedsolo with ``generator=173`` (173 = alpha^11). The kernels take
every table as an argument and allocate their scratch once per call, never inside the symbol loops.

Codeblock layout (interleave depth I, codeword length n = 255 - virtual fill): octet ``j * I + c`` of the
codeblock is symbol ``j`` of codeword ``c``; symbol 0 is the highest-degree coefficient, the last 32
symbols of each codeword are its check symbols.
"""
from __future__ import annotations

import numpy as np
from numba import njit

NROOTS = 32
T_MAX = NROOTS // 2
FCR = 112
NN = 255


@njit(cache=True)
def encode_blocks(msgs, out, interleave, k, parity_tab, to_conv, to_dual, dual):
    """msgs uint8[N, k*I] -> out uint8[N, (k+32)*I] (systematic, interleaved).

    parity_tab[f, j] = f * g[31 - j] where g(x) = x^32 + g[31] x^31 + ... + g[0].
    """
    nblocks = msgs.shape[0]
    reg = np.zeros(NROOTS, np.uint8)
    n = k + NROOTS
    for b in range(nblocks):
        for c in range(interleave):
            for j in range(NROOTS):
                reg[j] = 0
            for i in range(k):
                s = msgs[b, i * interleave + c]
                out[b, i * interleave + c] = s
                if dual:
                    s = to_conv[s]
                fb = s ^ reg[0]
                for j in range(NROOTS - 1):
                    reg[j] = reg[j + 1] ^ parity_tab[fb, j]
                reg[NROOTS - 1] = parity_tab[fb, NROOTS - 1]
            for j in range(NROOTS):
                p = reg[j]
                if dual:
                    p = to_dual[p]
                out[b, (k + j) * interleave + c] = p
    return n


@njit(cache=True)
def _syndromes(word, n, synd_tab, synd):
    """synd[j] = word(beta^(FCR+j)); returns True when all are zero."""
    for j in range(NROOTS):
        synd[j] = 0
    for i in range(n):
        r = word[i]
        for j in range(NROOTS):
            synd[j] = synd_tab[j, synd[j]] ^ r
    nz = 0
    for j in range(NROOTS):
        nz |= synd[j]
    return nz == 0


@njit(cache=True)
def _decode_word(word, n, synd_tab, exp, log, synd, lam, prev, tmp, omega, err_pos, err_val, lt):
    """Correct ``word`` (uint8[n], conventional basis) in place.

    Returns the number of corrected symbols, or -1 when the word is beyond the code's power. A word is
    changed only when the correction is verified: locator degree == number of roots found inside the
    (possibly shortened) codeword, every error value nonzero, and all syndromes zero afterwards.
    """
    if _syndromes(word, n, synd_tab, synd):
        return 0
    # Berlekamp-Massey: lam(x) = 1 + lam1 x + ..., the error locator. Products are done in the log
    # domain inline (exp has 512 entries, so log a + log b needs no reduction).
    for i in range(NROOTS + 1):
        lam[i] = 0
        prev[i] = 0
    lam[0] = 1
    prev[0] = 1
    L = 0
    m = 1
    b = 1
    for r in range(NROOTS):
        d = np.int64(synd[r])
        for i in range(1, L + 1):
            a = lam[i]
            s = synd[r - i]
            if a != 0 and s != 0:
                d ^= exp[log[a] + log[s]]
        if d == 0:
            m += 1
            continue
        lc = log[d] - log[b]  # log(d / b)
        if lc < 0:
            lc += 255
        if 2 * L <= r:
            for i in range(NROOTS + 1):
                tmp[i] = lam[i]
            for i in range(NROOTS + 1 - m):
                pv = prev[i]
                if pv != 0:
                    lam[i + m] ^= exp[lc + log[pv]]
            L = r + 1 - L
            for i in range(NROOTS + 1):
                prev[i] = tmp[i]
            b = d
            m = 1
        else:
            for i in range(NROOTS + 1 - m):
                pv = prev[i]
                if pv != 0:
                    lam[i + m] ^= exp[lc + log[pv]]
            m += 1
    if L > T_MAX:
        return -1
    deg = 0
    for i in range(NROOTS + 1):
        if lam[i] != 0:
            deg = i
    if deg != L or L == 0:
        return -1
    # Chien search over the positions of this codeword: symbol p has degree e = n-1-p, locator beta^e;
    # it is in error when lam(beta^-e) == 0. Terms are kept as logs, lt[i] = log(lam_i) - i*e (mod 255),
    # stepped from e = 0 upward without any division.
    for i in range(1, L + 1):
        lt[i] = log[lam[i]] if lam[i] != 0 else -1
    nfound = 0
    for e in range(n):
        acc = np.int64(lam[0])
        for i in range(1, L + 1):
            if lt[i] >= 0:
                acc ^= exp[lt[i]]
                v = lt[i] - i
                if v < 0:
                    v += 255
                lt[i] = v
        if acc == 0:
            if nfound == L:
                return -1
            err_pos[nfound] = n - 1 - e
            nfound += 1
    if nfound != L:
        return -1
    # omega(x) = synd(x) * lam(x) mod x^32
    for i in range(NROOTS):
        acc = np.int64(0)
        for j in range(min(i, L) + 1):
            a = lam[j]
            sv = synd[i - j]
            if a != 0 and sv != 0:
                acc ^= exp[log[a] + log[sv]]
        omega[i] = acc
    # Forney: e = X^(1-FCR) * omega(X^-1) / lam'(X^-1), X = beta^e
    for t in range(nfound):
        e = n - 1 - err_pos[t]
        inv = (255 - e) % 255
        num = np.int64(0)
        step = 0  # = inv * i mod 255
        for i in range(NROOTS):
            if omega[i] != 0:
                num ^= exp[log[omega[i]] + step]
            step += inv
            if step >= 255:
                step -= 255
        den = np.int64(0)
        step = 0  # = inv * (i - 1) mod 255 for odd i (formal derivative keeps lam_i x^(i-1))
        inv2 = (2 * inv) % 255
        for i in range(1, L + 1, 2):
            if lam[i] != 0:
                den ^= exp[log[lam[i]] + step]
            step += inv2
            if step >= 255:
                step -= 255
        if num == 0 or den == 0:
            return -1
        err_val[t] = exp[((log[num] - log[den] + e * (1 - FCR)) % 255 + 255) % 255]
    for t in range(nfound):
        word[err_pos[t]] ^= err_val[t]
    if not _syndromes(word, n, synd_tab, synd):
        for t in range(nfound):  # undo: never hand back a wrong "corrected" word
            word[err_pos[t]] ^= err_val[t]
        return -1
    return nfound


@njit(cache=True)
def decode_blocks(blocks, out, interleave, n, synd_tab, exp, log, to_conv, to_dual, dual, counts):
    """blocks uint8[N, n*I] -> out uint8[N, (n-32)*I] messages; counts[N, I] corrected per codeword (-1 bad).

    Returns the number of codewords that were uncorrectable (their message octets are copied as received).
    """
    nblocks = blocks.shape[0]
    k = n - NROOTS
    word = np.zeros(NN, np.uint8)
    synd = np.zeros(NROOTS, np.uint8)
    lam = np.zeros(NROOTS + 1, np.uint8)
    prev = np.zeros(NROOTS + 1, np.uint8)
    tmp = np.zeros(NROOTS + 1, np.uint8)
    omega = np.zeros(NROOTS, np.uint8)
    err_pos = np.zeros(NROOTS, np.int64)
    err_val = np.zeros(NROOTS, np.uint8)
    lt = np.zeros(NROOTS + 1, np.int64)
    bad = 0
    for b in range(nblocks):
        for c in range(interleave):
            for i in range(n):
                s = blocks[b, i * interleave + c]
                word[i] = to_conv[s] if dual else s
            cnt = _decode_word(word, n, synd_tab, exp, log, synd, lam, prev, tmp, omega, err_pos, err_val, lt)
            counts[b, c] = cnt
            if cnt < 0:
                bad += 1
                for i in range(k):
                    out[b, i * interleave + c] = blocks[b, i * interleave + c]
            else:
                for i in range(k):
                    s = word[i]
                    out[b, i * interleave + c] = to_dual[s] if dual else s
    return bad
