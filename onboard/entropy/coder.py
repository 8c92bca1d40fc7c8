"""rANS entropy coder with per-symbol table indexes (the flight coder for ``y`` and ``z``).

Stream format (version 2), a sequence of little-endian 32-bit words, no header and no length field (the
number of symbols is known from ``indexes``)::

    word 0      low 32 bits of the encoder's final 63-bit state  \\ = the decoder's initial state,
    word 1      high 31 bits of that state                       /  always in [2**31, 2**63)
    word 2...   renormalisation words, in the order the decoder reads them

so a stream is ``8 + 4 * k`` bytes (version 1, a 32-bit state with 16-bit words, lost 0.12 % to ideal at
16-bit precision; version 2 loses about 0.02 %). Each symbol ``s`` with table ``t = indexes[i]`` is coded as:

- if ``offsets[t] <= s <= offsets[t] + n_real - 1`` (``n_real = cdf_lengths[t] - 2``): the regular symbol
  ``s - offsets[t]`` with frequencies from ``cdfs[t]`` (precision ``tables.precision``);
- else ESCAPE (symbol ``n_real``), then bypass coding of ``v = s - offsets[t]``: ``u = -2v - 1`` if ``v < 0``
  else ``u = 2 (v - n_real)``; ``w = u + 1`` has ``nb + 1`` bits (``nb <= 33``); ``nb`` is coded as 6 raw bits,
  then the ``nb`` bits of ``w`` below its leading one as raw chunks of 16 bits, low chunk first (raw = rANS
  with frequency 1 at precision k). Any int32 round trips; an escaped value costs the escape symbol + 6 + nb bits.

The decoder starts from word 0/1 and must end with the encoder's initial state ``2**31`` having consumed every
word; otherwise, or on a read past the end, an escape length > 33, an escaped value that does not fit int32,
or a byte count that is not a multiple of 4, it raises :class:`~onboard.errors.CorruptStreamError` (attributes ``reason``,
``symbol_index``, ``byte_offset`` and, in batches, ``chunk``). Decoding never reads outside the buffer.

Batches (:func:`encode_batch`, :func:`decode_batch`) code independent chunks in one call, in parallel over
chunks (numba ``prange``); each chunk's bytes are identical to :func:`encode_with_indexes` on that chunk.
``decode_batch(..., errors="mask")`` returns ``None`` in place of every corrupt chunk (the others decode
normally); ``errors="raise"`` (default) raises for the first corrupt chunk. :func:`decode_batch_status`
returns the decoded arrays and the per-chunk status codes.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from onboard.errors import CorruptStreamError, SatcompError
from onboard.entropy.tables import CdfTables
from onboard.entropy import _kernels as K

__all__ = [
    "encode_with_indexes",
    "decode_with_indexes",
    "encode_batch",
    "decode_batch",
    "decode_batch_status",
    "ideal_bits",
    "EntropyInputError",
    "ShapeMismatchError",
    "IndexOutOfRangeError",
    "SymbolRangeError",
    "STATUS_NAMES",
]

WORD_BYTES = K.WORD_BITS // 8
WORD_DTYPE = "<u4"
LUT_BITS = 10  # decode lookup: 1 << LUT_BITS buckets per table, then a short forward scan
ERR_ODD_LENGTH = 8
STATUS_NAMES = {
    K.OK: "ok",
    K.ERR_READ_PAST_END: "read past the end of the stream (truncated)",
    K.ERR_BAD_ESCAPE_LENGTH: "invalid escape length",
    K.ERR_ESCAPE_OVERFLOW: "escaped value does not fit int32",
    K.ERR_FINAL_STATE: "final state check failed",
    K.ERR_TRAILING_WORDS: "unconsumed words after the last symbol",
    K.ERR_BAD_INITIAL_STATE: "stream too short or invalid initial state",
    K.ERR_BAD_INDEX: "table index out of range",
    ERR_ODD_LENGTH: "length not a multiple of 4 bytes (odd number of words)",
}


class EntropyInputError(SatcompError, ValueError):
    """Bad arguments to the entropy coder (not a corrupt stream). Carries the numbers in ``numbers``."""

    def __init__(self, message: str, **numbers) -> None:
        self.numbers = numbers
        for k, v in numbers.items():
            setattr(self, k, v)
        extra = "" if not numbers else " (" + ", ".join(f"{k}={v}" for k, v in numbers.items()) + ")"
        super().__init__(message + extra)


class ShapeMismatchError(EntropyInputError):
    """symbols and indexes (or the lists of a batch) do not have matching shapes/lengths."""


class IndexOutOfRangeError(EntropyInputError):
    """A table index is outside ``[0, n_tables)``: attributes ``position``, ``index``, ``n_tables``."""


class SymbolRangeError(EntropyInputError):
    """Symbols (or indexes) are not integers that fit int32."""


# ---------------------------------------------------------------------------------------------------------
def _as_int32(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == np.int32:
        return np.ascontiguousarray(arr).reshape(-1)
    if arr.dtype.kind not in "iu":
        if arr.size == 0 and arr.dtype.kind in "bf":  # e.g. np.asarray([]) is float64: nothing to convert
            return np.empty(0, np.int32)
        raise SymbolRangeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    flat = np.ascontiguousarray(arr).reshape(-1)
    if flat.size:
        lo, hi = int(flat.min()), int(flat.max())
        if lo < K.INT32_MIN or hi > K.INT32_MAX:
            raise SymbolRangeError(f"{name} must fit int32", min=lo, max=hi)
    return flat.astype(np.int32)


def _check_tables(tables) -> None:
    if not isinstance(tables, CdfTables):
        raise TypeError(f"tables must be a CdfTables, got {type(tables).__name__}")


def _prepared(tables: CdfTables):
    """Kernel arguments for a table set; the decode lookup table is built once and kept on the instance."""
    cached = tables.__dict__.get("_coder_args")
    if cached is None:
        prec = tables.precision
        lut_bits = min(LUT_BITS, prec)
        lut_shift = prec - lut_bits
        lut = np.empty((tables.n_tables, 1 << lut_bits), dtype=np.uint16)
        K.build_lut(tables.cdfs, tables.cdf_lengths, lut, lut_shift)
        lut.setflags(write=False)
        cached = (tables.cdfs, tables.cdf_lengths, tables.offsets, lut, np.int64(lut_shift), np.int64(prec))
        object.__setattr__(tables, "_coder_args", cached)
    return cached


def _bad_index(indexes: np.ndarray, n_tables: int) -> int:
    bad = np.flatnonzero((indexes < 0) | (indexes >= n_tables))
    return int(bad[0]) if bad.size else -1


def _raise_bad_index(indexes: np.ndarray, pos: int, n_tables: int, chunk: int | None = None) -> None:
    numbers = dict(position=pos, index=int(indexes[pos]), n_tables=n_tables)
    if chunk is not None:
        numbers["chunk"] = chunk
    raise IndexOutOfRangeError("table index out of range", **numbers)


def _corrupt(status: int, sym: int, word: int, chunk: int | None = None) -> CorruptStreamError:
    where = f"chunk {chunk}: " if chunk is not None else ""
    e = CorruptStreamError(f"{where}corrupt rANS stream: {STATUS_NAMES.get(status, status)} "
                           f"(status={status}, symbol_index={sym}, byte_offset={WORD_BYTES * word})")
    e.reason = STATUS_NAMES.get(status, str(status))
    e.status = status
    e.symbol_index = sym
    e.byte_offset = WORD_BYTES * word
    e.chunk = chunk
    return e


def _words(data, chunk: int | None = None) -> np.ndarray:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes-like, got {type(data).__name__}")
    data = bytes(data)
    if len(data) % WORD_BYTES:
        raise _corrupt(ERR_ODD_LENGTH, 0, len(data) // WORD_BYTES, chunk)
    return np.frombuffer(data, dtype=WORD_DTYPE)


# ---------------------------------------------------------------------------------------------------------
def encode_with_indexes(symbols, indexes, tables: CdfTables) -> bytes:
    """Encode ``symbols`` (any integers fitting int32), symbol i with table ``indexes[i]``. Shapes must match
    (N-D arrays are coded in C order). Returns the stream (format: module docstring)."""
    _check_tables(tables)
    sym = _as_int32(symbols, "symbols")
    idx = _as_int32(indexes, "indexes")
    if np.shape(symbols) != np.shape(indexes):
        raise ShapeMismatchError("symbols and indexes shapes differ",
                                 symbols_size=sym.size, indexes_size=idx.size)
    cdfs, lengths, offsets, _lut, _shift, prec = _prepared(tables)
    buf = np.empty(K.MAX_WORDS_PER_SYMBOL * sym.size + K.STATE_WORDS, dtype=np.uint32)
    pos, bad = K.encode_single(sym, idx, cdfs, lengths, offsets, prec, buf)
    if bad >= 0:
        _raise_bad_index(idx, int(bad), tables.n_tables)
    return buf[pos:].astype(WORD_DTYPE, copy=False).tobytes()


def decode_with_indexes(data: bytes, indexes, tables: CdfTables) -> np.ndarray:
    """Decode a stream of ``encode_with_indexes``; returns int32 with the shape of ``indexes``.
    Raises :class:`CorruptStreamError` on any malformed stream (never reads out of bounds)."""
    _check_tables(tables)
    idx = _as_int32(indexes, "indexes")
    words = _words(data)
    cdfs, lengths, offsets, lut, shift, prec = _prepared(tables)
    out = np.empty(idx.size, dtype=np.int32)
    status, sym, word = K.decode_single(words, idx, cdfs, lengths, offsets, lut, shift, prec, out)
    if status != K.OK:
        bad = _bad_index(idx, tables.n_tables)
        if bad >= 0:
            _raise_bad_index(idx, bad, tables.n_tables)
        raise _corrupt(int(status), int(sym), int(word))
    return out.reshape(np.shape(indexes))


# ---------------------------------------------------------------------------------------------------------
PARALLEL_MIN_SYMBOLS = 1 << 15  # below this many symbols in a batch, run the serial twin (no thread launch)


def _concat(arrays: Sequence, name: str):
    """Concatenate a list of integer arrays to one int32 array + offsets (one numpy call when all are int32)."""
    arrs = [a if type(a) is np.ndarray else np.asarray(a) for a in arrays]
    offs = np.array([0, *itertools.accumulate(a.size for a in arrs)], dtype=np.int64)
    if not arrs:
        return np.empty(0, np.int32), offs, arrs
    if all(a.dtype == np.int32 for a in arrs):
        flat = np.concatenate(arrs if all(a.ndim == 1 for a in arrs) else [a.reshape(-1) for a in arrs])
    else:
        flat = np.concatenate([_as_int32(a, name) for a in arrs])
    return flat, offs, arrs


def _check_shapes(sarrs, iarrs) -> None:
    for c, (a, b) in enumerate(zip(sarrs, iarrs)):
        if a.shape != b.shape:
            raise ShapeMismatchError("symbols and indexes shapes differ", chunk=c,
                                     symbols_size=a.size, indexes_size=b.size)


def encode_batch(symbol_arrays: Sequence, index_arrays: Sequence, tables: CdfTables) -> list[bytes]:
    """Encode independent chunks in one call, in parallel over chunks; ``result[c] ==
    encode_with_indexes(symbol_arrays[c], index_arrays[c], tables)`` byte for byte."""
    _check_tables(tables)
    if len(symbol_arrays) != len(index_arrays):
        raise ShapeMismatchError("number of symbol and index arrays differ",
                                 n_symbol_arrays=len(symbol_arrays), n_index_arrays=len(index_arrays))
    sym, offs, sarrs = _concat(symbol_arrays, "symbols")
    idx, _ioffs, iarrs = _concat(index_arrays, "indexes")
    _check_shapes(sarrs, iarrs)
    n_chunks = len(sarrs)
    if n_chunks == 0:
        return []
    cdfs, lengths, offsets, _lut, _shift, prec = _prepared(tables)
    ends = [K.MAX_WORDS_PER_SYMBOL * o + K.STATE_WORDS * c for c, o in enumerate(offs.tolist()) if c]
    buf_ends = np.array(ends, dtype=np.int64)
    buf = np.empty(ends[-1], dtype=np.uint32)
    starts = np.empty(n_chunks, dtype=np.int64)
    bad = np.empty(n_chunks, dtype=np.int64)
    kernel = K.encode_many if (n_chunks > 1 and sym.size >= PARALLEL_MIN_SYMBOLS) else K.encode_many_serial
    c = kernel(sym, idx, offs, cdfs, lengths, offsets, prec, buf, buf_ends, starts, bad)
    if c >= 0:
        _raise_bad_index(idx[offs[c]:offs[c + 1]], int(bad[c]), tables.n_tables, chunk=c)
    b = buf.astype(WORD_DTYPE, copy=False)
    return [b[s:e].tobytes() for s, e in zip(starts.tolist(), ends)]


def decode_batch_status(datas: Sequence[bytes], index_arrays: Sequence, tables: CdfTables):
    """Decode chunks in one call, in parallel over chunks. Returns ``(arrays, status, err_symbol,
    err_byte_offset)``: ``arrays[c]`` is the decoded int32 array (shape of ``index_arrays[c]``; contents
    undefined where ``status[c] != 0``), ``status`` int64 codes (0 = ok, see ``STATUS_NAMES``), and for corrupt
    chunks the symbol index and byte offset where decoding stopped. Bad table indexes raise
    :class:`IndexOutOfRangeError` (a caller error, not a corrupt stream)."""
    arrays, status, err_sym, err_word, _first = _decode_batch(datas, index_arrays, tables)
    return arrays, status, err_sym, WORD_BYTES * err_word


def _decode_batch(datas, index_arrays, tables):
    _check_tables(tables)
    if len(datas) != len(index_arrays):
        raise ShapeMismatchError("number of streams and index arrays differ",
                                 n_streams=len(datas), n_index_arrays=len(index_arrays))
    idx, offs, iarrs = _concat(index_arrays, "indexes")
    n_chunks = len(iarrs)
    for d in datas:
        if not isinstance(d, (bytes, bytearray, memoryview)):
            raise TypeError(f"streams must be bytes-like, got {type(d).__name__}")
    lens = [len(d) for d in datas]
    odd = [c for c, ln in enumerate(lens) if ln % WORD_BYTES]
    if odd:  # a stream of partial words is corrupt; replace it by nothing so the others stay word-aligned
        odd_nbytes = [lens[c] for c in odd]
        datas = list(datas)
        for c in odd:
            datas[c] = b""
            lens[c] = 0
    word_offs = np.array([0, *itertools.accumulate(ln // WORD_BYTES for ln in lens)], dtype=np.int64)
    words = np.frombuffer(b"".join(datas), dtype=WORD_DTYPE)
    out = np.empty(idx.size, dtype=np.int32)
    first = -1
    status = np.zeros(n_chunks, dtype=np.int64)
    err_sym = np.zeros(n_chunks, dtype=np.int64)
    err_word = np.zeros(n_chunks, dtype=np.int64)
    if n_chunks:
        cdfs, lengths, offsets, lut, shift, prec = _prepared(tables)
        kernel = K.decode_many if (n_chunks > 1 and idx.size >= PARALLEL_MIN_SYMBOLS) else K.decode_many_serial
        first = kernel(words, word_offs, idx, offs, cdfs, lengths, offsets, lut, shift, prec,
                       out, status, err_sym, err_word)
        if first >= 0:
            pos = _bad_index(idx, tables.n_tables)
            if pos >= 0:
                c = int(np.searchsorted(offs, pos, side="right") - 1)
                _raise_bad_index(idx[offs[c]:offs[c + 1]], pos - int(offs[c]), tables.n_tables, chunk=c)
        if odd:
            first = min(odd) if first < 0 else min(first, min(odd))
            status[odd] = ERR_ODD_LENGTH
            err_word[odd] = np.array(odd_nbytes, dtype=np.int64) // WORD_BYTES
    arrays = [out[a:b].reshape(ia.shape) if ia.ndim != 1 else out[a:b]
              for a, b, ia in zip(offs[:-1].tolist(), offs[1:].tolist(), iarrs)]
    return arrays, status, err_sym, err_word, first


def decode_batch(datas: Sequence[bytes], index_arrays: Sequence, tables: CdfTables, errors: str = "raise"):
    """Decode chunks in one parallel call. ``errors="raise"``: raise :class:`CorruptStreamError` (with
    ``.chunk``) for the first corrupt chunk. ``errors="mask"``: return ``None`` in place of each corrupt chunk;
    the other chunks are decoded normally. The returned arrays are views of one int32 buffer."""
    if errors not in ("raise", "mask"):
        raise ValueError(f"errors must be 'raise' or 'mask', got {errors!r}")
    arrays, status, err_sym, err_word, first = _decode_batch(datas, index_arrays, tables)
    if first >= 0:
        if errors == "raise":
            raise _corrupt(int(status[first]), int(err_sym[first]), int(err_word[first]), chunk=first)
        for c in np.flatnonzero(status).tolist():
            arrays[c] = None
    return arrays


# ---------------------------------------------------------------------------------------------------------
def symbol_bits(symbols, indexes, tables: CdfTables) -> np.ndarray:
    """Code length in bits of each value of ``symbols`` (float64, same shape) under the quantised tables:
    ``precision - log2(freq)``; an escaped value costs the escape symbol plus its bypass bits (6 + nb).

    Example:
        >>> from onboard.entropy import gaussian_tables, default_scale_table
        >>> t = gaussian_tables(default_scale_table())
        >>> b = symbol_bits(np.array([0, 1, 200]), np.array([10, 10, 10]), t)
        >>> bool(b[0] < b[1] < b[2])
        True
    """
    _check_tables(tables)
    sym = _as_int32(symbols, "symbols").astype(np.int64)
    idx = _as_int32(indexes, "indexes").astype(np.int64)
    if np.shape(symbols) != np.shape(indexes):
        raise ShapeMismatchError("symbols and indexes shapes differ",
                                 symbols_size=sym.size, indexes_size=idx.size)
    bad = _bad_index(idx, tables.n_tables)
    if bad >= 0:
        _raise_bad_index(idx, bad, tables.n_tables)
    if sym.size == 0:
        return np.zeros(np.shape(symbols), dtype=np.float64)
    cdfs = tables.cdfs.astype(np.int64)
    n_real = tables.cdf_lengths.astype(np.int64)[idx] - 2
    v = sym - tables.offsets.astype(np.int64)[idx]
    esc = (v < 0) | (v >= n_real)
    s = np.where(esc, n_real, v)
    freq = cdfs[idx, s + 1] - cdfs[idx, s]
    bits = tables.precision - np.log2(freq.astype(np.float64))
    if esc.any():
        ve, nr = v[esc], n_real[esc]
        u = np.where(ve < 0, -2 * ve - 1, 2 * (ve - nr))
        w = u + 1
        nb = np.floor(np.log2(w.astype(np.float64))).astype(np.int64)
        # exact bit length (float log2 can be off by one near powers of two)
        nb = np.where((np.int64(1) << nb) > w, nb - 1, nb)
        nb = np.where((np.int64(1) << (nb + 1)) <= w, nb + 1, nb)
        bits[esc] += K.ESC_LEN_BITS + nb
    return bits.reshape(np.shape(symbols))


def ideal_bits(symbols, indexes, tables: CdfTables) -> float:
    """Information content ``-sum(log2 p)`` of ``symbols`` under the quantised tables; an escaped value counts
    the escape symbol plus its bypass bits (6 + nb). The sum of :func:`symbol_bits`."""
    return float(np.sum(symbol_bits(symbols, indexes, tables)))
