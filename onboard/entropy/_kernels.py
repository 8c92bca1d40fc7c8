"""Private numba kernels of the rANS coder. Public API and stream format: :mod:`onboard.entropy.coder`.

rANS with a 63-bit state ``x`` in ``[RANS_L, 2**63)``, ``RANS_L = 1 << 31``, 32-bit renormalisation words and a
probability precision ``p <= 16`` (ryg_rans ``rans64`` arithmetic). All arithmetic is int64 on values < 2**63 (no
wrap, no floats, no fastmath). The wide state keeps the coding loss of 16-bit precision negligible (measured
0.02 % over ideal, against 0.12 % for a 32-bit state with 16-bit words). Encoding runs over the symbols in
reverse and writes words backwards from the end of a preallocated buffer, so decoding is forward.

- put(start, freq, p):  if x >= freq << (63 - p): emit x & 0xffffffff; x >>= 32
                        x = ((x // freq) << p) + x % freq + start
- get(p):               cum = x & ((1 << p) - 1); find s with start_s <= cum < start_s + freq_s
                        x = freq_s * (x >> p) + cum - start_s; if x < RANS_L: x = (x << 32) | next word
- bypass k bits (value b < 2**k) is put/get with start=b, freq=1, precision k.

Each put emits at most one word, each get reads at most one. A symbol costs at most ``MAX_WORDS_PER_SYMBOL``
puts: the symbol (or ESCAPE) + the 6-bit escape length + up to 3 payload chunks (33 bits = 16 + 16 + 1), so a
buffer of ``MAX_WORDS_PER_SYMBOL * n + 2`` words can never overrun, whatever the input. The encoder renormalises
without a branch (it always stores the candidate word one slot below the write position, inside that bound).

Kernels never allocate in the hot loop; the lookup table for decoding (``lut``) is built once per ``CdfTables``.
Compilation is lazy (first call); ``cache=True`` keeps later processes fast.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

RANS_L = 1 << 31
STATE_BITS = 63  # the state stays below 2**63 (fits int64)
WORD_BITS = 32
WORD_MASK = 0xFFFFFFFF
PAYLOAD_CHUNK_BITS = 16  # escape payload bits are coded in chunks of at most this many bits
ESC_LEN_BITS = 6  # bypass header: number of payload bits (0..MAX_ESC_PAYLOAD_BITS)
MAX_ESC_PAYLOAD_BITS = 33  # |value| < 2**33 once mapped to unsigned: w = u + 1 <= 2**33 + 1 has 34 bits
MAX_WORDS_PER_SYMBOL = 5  # 1 symbol + 1 escape header + 3 payload chunks of <= 16 bits
STATE_WORDS = 2

# status codes shared with coder.py
OK = 0
ERR_READ_PAST_END = 1
ERR_BAD_ESCAPE_LENGTH = 2
ERR_ESCAPE_OVERFLOW = 3
ERR_FINAL_STATE = 4
ERR_TRAILING_WORDS = 5
ERR_BAD_INITIAL_STATE = 6
ERR_BAD_INDEX = 7

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


@njit(cache=True, inline="always")
def _put(x, start, freq, prec, buf, pos):
    # branchless renormalisation (2.4x faster than a branch here: the branch is unpredictable). The word slot
    # buf[pos - 1] is always written, but only kept when emitted: a later emission or the final state words
    # overwrite it. pos - 1 stays inside the chunk's region (the region has room for the state words).
    emit = np.int64(x >= (freq << (STATE_BITS - prec)))
    buf[pos - 1] = x & WORD_MASK
    pos -= emit
    x >>= emit << 5
    x = ((x // freq) << prec) + (x % freq) + start
    return x, pos


@njit(cache=True, inline="always")
def _put_bits(x, value, k, buf, pos):
    if x >= (np.int64(1) << (STATE_BITS - k)):
        pos -= 1
        buf[pos] = x & WORD_MASK
        x >>= WORD_BITS
    x = (x << k) + value
    return x, pos


@njit(cache=True)
def _encode_chunk(symbols, indexes, cdfs, lengths, offsets, prec, buf, end):
    """Encode one chunk backwards into ``buf[:end]``. Returns (start word position, bad index position or -1).
    On success ``buf[pos:end]`` holds the stream (state first, 2 words little end first)."""
    n = symbols.shape[0]
    n_tables = cdfs.shape[0]
    x = np.int64(RANS_L)
    pos = end
    for ii in range(n):
        i = n - 1 - ii
        t = np.int64(indexes[i])
        if t < 0 or t >= n_tables:
            return pos, i
        v = np.int64(symbols[i]) - np.int64(offsets[t])
        n_real = np.int64(lengths[t]) - 2  # regular symbols; escape index == n_real
        if v >= 0 and v < n_real:
            start = np.int64(cdfs[t, v])
            freq = np.int64(cdfs[t, v + 1]) - start
            x, pos = _put(x, start, freq, prec, buf, pos)
        else:
            if v < 0:
                u = -2 * v - 1
            else:
                u = 2 * (v - n_real)
            w = u + 1
            nb = 0
            tmp = w
            while tmp > 1:
                tmp >>= 1
                nb += 1
            # nb = number of payload bits below the implicit leading one, <= 33
            payload = w - (np.int64(1) << nb)
            n_chunks = (nb + PAYLOAD_CHUNK_BITS - 1) // PAYLOAD_CHUNK_BITS
            for cc in range(n_chunks):
                c = n_chunks - 1 - cc
                k = nb - c * PAYLOAD_CHUNK_BITS
                if k > PAYLOAD_CHUNK_BITS:
                    k = PAYLOAD_CHUNK_BITS
                val = (payload >> (c * PAYLOAD_CHUNK_BITS)) & ((np.int64(1) << k) - 1)
                x, pos = _put_bits(x, val, k, buf, pos)
            x, pos = _put_bits(x, np.int64(nb), ESC_LEN_BITS, buf, pos)
            start = np.int64(cdfs[t, n_real])
            freq = np.int64(cdfs[t, n_real + 1]) - start
            x, pos = _put(x, start, freq, prec, buf, pos)
    pos -= 1
    buf[pos] = (x >> WORD_BITS) & WORD_MASK
    pos -= 1
    buf[pos] = x & WORD_MASK
    return pos, -1


@njit(cache=True)
def _decode_chunk(words, wstart, wend, indexes, cdfs, lengths, offsets, lut, lut_shift, prec, out):
    """Decode ``out.shape[0]`` symbols from ``words[wstart:wend]`` into ``out``.
    Returns (status, symbol position, word position). Never reads outside ``words[wstart:wend]``."""
    n = out.shape[0]
    n_tables = cdfs.shape[0]
    if wend - wstart < 2:
        return ERR_BAD_INITIAL_STATE, 0, wstart
    hi = np.int64(words[wstart + 1])
    if hi >= (np.int64(1) << (STATE_BITS - WORD_BITS)):  # the state must stay below 2**63
        return ERR_BAD_INITIAL_STATE, 0, wstart
    x = np.int64(words[wstart]) | (hi << WORD_BITS)
    pos = wstart + 2
    if x < RANS_L:
        return ERR_BAD_INITIAL_STATE, 0, wstart
    mask = (np.int64(1) << prec) - 1
    for i in range(n):
        t = np.int64(indexes[i])
        if t < 0 or t >= n_tables:
            return ERR_BAD_INDEX, i, pos
        cum = x & mask
        s = np.int64(lut[t, cum >> lut_shift])
        while np.int64(cdfs[t, s + 1]) <= cum:
            s += 1
        start = np.int64(cdfs[t, s])
        freq = np.int64(cdfs[t, s + 1]) - start
        x = freq * (x >> prec) + cum - start
        if x < RANS_L:
            if pos >= wend:
                return ERR_READ_PAST_END, i, pos
            x = (x << WORD_BITS) | np.int64(words[pos])
            pos += 1
        n_real = np.int64(lengths[t]) - 2
        if s < n_real:
            out[i] = np.int32(s + np.int64(offsets[t]))
        else:
            # escape: 6-bit payload length, then payload chunks (low chunk first)
            nb = x & ((1 << ESC_LEN_BITS) - 1)
            x >>= ESC_LEN_BITS
            if x < RANS_L:
                if pos >= wend:
                    return ERR_READ_PAST_END, i, pos
                x = (x << WORD_BITS) | np.int64(words[pos])
                pos += 1
            if nb > MAX_ESC_PAYLOAD_BITS:
                return ERR_BAD_ESCAPE_LENGTH, i, pos
            payload = np.int64(0)
            shift = 0
            while shift < nb:
                k = nb - shift
                if k > PAYLOAD_CHUNK_BITS:
                    k = PAYLOAD_CHUNK_BITS
                val = x & ((np.int64(1) << k) - 1)
                x >>= k
                if x < RANS_L:
                    if pos >= wend:
                        return ERR_READ_PAST_END, i, pos
                    x = (x << WORD_BITS) | np.int64(words[pos])
                    pos += 1
                payload |= val << shift
                shift += k
            u = payload + (np.int64(1) << nb) - 1
            if u & 1:
                v = -((u + 1) >> 1)
            else:
                v = n_real + (u >> 1)
            value = v + np.int64(offsets[t])
            if value < INT32_MIN or value > INT32_MAX:
                return ERR_ESCAPE_OVERFLOW, i, pos
            out[i] = np.int32(value)
    if x != RANS_L:
        return ERR_FINAL_STATE, n, pos
    if pos != wend:
        return ERR_TRAILING_WORDS, n, pos
    return OK, n, pos


@njit(cache=True)
def encode_single(symbols, indexes, cdfs, lengths, offsets, prec, buf):
    return _encode_chunk(symbols, indexes, cdfs, lengths, offsets, prec, buf, buf.shape[0])


@njit(cache=True)
def decode_single(words, indexes, cdfs, lengths, offsets, lut, lut_shift, prec, out):
    return _decode_chunk(words, 0, words.shape[0], indexes, cdfs, lengths, offsets, lut, lut_shift, prec, out)


@njit(cache=True)
def _first_nonneg(a):
    for c in range(a.shape[0]):
        if a[c] >= 0:
            return c
    return -1


@njit(cache=True)
def _first_nonzero(a):
    for c in range(a.shape[0]):
        if a[c] != 0:
            return c
    return -1


@njit(cache=True, parallel=True)
def encode_many(symbols, indexes, sym_offsets, cdfs, lengths, offsets, prec, buf, buf_ends, starts, bad):
    """Chunk c = symbols[sym_offsets[c]:sym_offsets[c+1]] is written backwards ending at buf_ends[c];
    its stream is buf[starts[c]:buf_ends[c]]; bad[c] = position of a bad index or -1.
    Returns the first chunk with a bad index, or -1."""
    n_chunks = sym_offsets.shape[0] - 1
    for c in prange(n_chunks):
        a = sym_offsets[c]
        b = sym_offsets[c + 1]
        p, e = _encode_chunk(symbols[a:b], indexes[a:b], cdfs, lengths, offsets, prec, buf, buf_ends[c])
        starts[c] = p
        bad[c] = e
    return _first_nonneg(bad)


@njit(cache=True, parallel=True)
def decode_many(words, word_offsets, indexes, sym_offsets, cdfs, lengths, offsets, lut, lut_shift, prec,
                out, status, err_sym, err_word):
    n_chunks = sym_offsets.shape[0] - 1
    for c in prange(n_chunks):
        a = sym_offsets[c]
        b = sym_offsets[c + 1]
        st, es, ew = _decode_chunk(words, word_offsets[c], word_offsets[c + 1], indexes[a:b], cdfs, lengths,
                                   offsets, lut, lut_shift, prec, out[a:b])
        status[c] = st
        err_sym[c] = es
        err_word[c] = ew
    return _first_nonzero(status)


# serial twins of the batch kernels (same loop, no thread launch): used for small batches, where waking the
# thread pool costs more than the work (and much more on a loaded machine)
@njit(cache=True)
def encode_many_serial(symbols, indexes, sym_offsets, cdfs, lengths, offsets, prec, buf, buf_ends, starts, bad):
    n_chunks = sym_offsets.shape[0] - 1
    for c in range(n_chunks):
        a = sym_offsets[c]
        b = sym_offsets[c + 1]
        p, e = _encode_chunk(symbols[a:b], indexes[a:b], cdfs, lengths, offsets, prec, buf, buf_ends[c])
        starts[c] = p
        bad[c] = e
    return _first_nonneg(bad)


@njit(cache=True)
def decode_many_serial(words, word_offsets, indexes, sym_offsets, cdfs, lengths, offsets, lut, lut_shift, prec,
                       out, status, err_sym, err_word):
    n_chunks = sym_offsets.shape[0] - 1
    for c in range(n_chunks):
        a = sym_offsets[c]
        b = sym_offsets[c + 1]
        st, es, ew = _decode_chunk(words, word_offsets[c], word_offsets[c + 1], indexes[a:b], cdfs, lengths,
                                   offsets, lut, lut_shift, prec, out[a:b])
        status[c] = st
        err_sym[c] = es
        err_word[c] = ew
    return _first_nonzero(status)


@njit(cache=True)
def build_lut(cdfs, lengths, lut, lut_shift):
    """lut[t, b] = the largest symbol j with cdfs[t, j] <= b << lut_shift."""
    n_tables = cdfs.shape[0]
    nb = lut.shape[1]
    for t in range(n_tables):
        j = 0
        last = np.int64(lengths[t]) - 2
        for b in range(nb):
            c = np.int64(b) << lut_shift
            while j < last and np.int64(cdfs[t, j + 1]) <= c:
                j += 1
            lut[t, b] = j


KERNELS = (encode_single, decode_single, encode_many, decode_many, encode_many_serial, decode_many_serial,
           build_lut, _encode_chunk, _decode_chunk, _put, _put_bits, _first_nonneg, _first_nonzero)
