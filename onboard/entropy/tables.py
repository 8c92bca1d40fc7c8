"""Frozen integer CDF tables: the probability model handed to the rANS coder.

A :class:`CdfTables` value is what the encoder and the decoder must agree on, bit for bit. It is built once at
export (from the Gaussian scale table for ``y`` or from the learned factorized prior for ``z``), shipped frozen
and identified by :attr:`CdfTables.content_hash`.

Layout of one table ``i`` (CompressAI convention):

- ``cdf_lengths[i]`` valid entries in ``cdfs[i]``: ``n_symbols + 1`` where ``n_symbols`` counts the
  ``n_symbols - 1`` regular symbols plus the ESCAPE symbol, which is always the last one.
- ``cdfs[i, 0] == 0``, strictly increasing, ``cdfs[i, cdf_lengths[i] - 1] == 1 << precision``; the frequency of
  symbol ``j`` is ``cdfs[i, j + 1] - cdfs[i, j]`` (>= 1 for every symbol, escape included).
- regular symbol ``j`` stands for the value ``offsets[i] + j``; every value outside
  ``[offsets[i], offsets[i] + n_symbols - 2]`` is coded as ESCAPE followed by bypass bits (see ``coder``).
- entries past ``cdf_lengths[i]`` are padding, normalised to ``1 << precision`` (they carry no information and
  are not part of the content hash).

Quantisation of probabilities to frequencies (:func:`quantize_pmf`) is deterministic integer-producing code:
float64 numpy math, ``floor``, then a fixup that breaks ties by symbol index through stable sorts.
"""
from __future__ import annotations

import hashlib
import io
import math
import statistics
import struct
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from onboard.errors import SatcompError

__all__ = [
    "CdfTables",
    "InvalidTableError",
    "default_scale_table",
    "gaussian_tables",
    "tables_from_pmfs",
    "quantize_pmf",
    "SCALE_MIN",
    "SCALE_MAX",
    "N_SCALES",
    "DEFAULT_PRECISION",
    "DEFAULT_TAIL_MASS",
]

SCALE_MIN = 0.11
SCALE_MAX = 256.0
N_SCALES = 64
DEFAULT_PRECISION = 16
DEFAULT_TAIL_MASS = 1e-9
MAX_PRECISION = 16  # the kernels use a 32-bit state with 16-bit words: precision must not exceed 16

_MAGIC = b"SATCDF1\x00"  # canonical serialisation, version 1
_HEADER = struct.Struct("<8sII")  # magic, precision, n_tables


class InvalidTableError(SatcompError, ValueError):
    """A CDF table is malformed. ``table_index`` names the bad table (None for array-level problems)."""

    def __init__(self, message: str, table_index: int | None = None, **numbers: int) -> None:
        self.table_index = table_index
        self.numbers = numbers
        where = "" if table_index is None else f"table {table_index}: "
        extra = "" if not numbers else " (" + ", ".join(f"{k}={v}" for k, v in numbers.items()) + ")"
        super().__init__(f"{where}{message}{extra}")


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class CdfTables:
    """Frozen integer CDF tables (see module docstring). Equality and hash are by content."""

    cdfs: np.ndarray
    cdf_lengths: np.ndarray
    offsets: np.ndarray
    precision: int = DEFAULT_PRECISION
    _hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        precision = self.precision
        if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)):
            raise InvalidTableError(f"precision must be an int, got {type(precision).__name__}")
        precision = int(precision)
        if not 1 <= precision <= MAX_PRECISION:
            raise InvalidTableError("precision out of range", precision=precision, max_precision=MAX_PRECISION)
        total = 1 << precision
        cdfs = np.asarray(self.cdfs)
        lengths = np.asarray(self.cdf_lengths)
        offsets = np.asarray(self.offsets)
        for name, arr, nd in (("cdfs", cdfs, 2), ("cdf_lengths", lengths, 1), ("offsets", offsets, 1)):
            if arr.dtype.kind not in "iu":
                raise InvalidTableError(f"{name} must be an integer array, got dtype {arr.dtype}")
            if arr.ndim != nd:
                raise InvalidTableError(f"{name} must be {nd}-D", ndim=arr.ndim)
        n = cdfs.shape[0]
        if n < 1:
            raise InvalidTableError("need at least one table", n_tables=n)
        if lengths.shape[0] != n or offsets.shape[0] != n:
            raise InvalidTableError(
                "cdfs, cdf_lengths and offsets disagree on the number of tables",
                n_cdfs=n, n_lengths=lengths.shape[0], n_offsets=offsets.shape[0],
            )
        i32 = np.iinfo(np.int32)
        width = cdfs.shape[1]
        for i in range(n):
            ln = int(lengths[i])
            if ln < 2 or ln > width:
                raise InvalidTableError("cdf_length out of range", i, cdf_length=ln, min_length=2, width=width)
            if ln - 1 > total:
                raise InvalidTableError("more symbols than 1 << precision", i, n_symbols=ln - 1, total=total)
            off = int(offsets[i])
            if not (i32.min <= off and off + ln - 2 <= i32.max):
                raise InvalidTableError("offset range does not fit int32", i, offset=off, cdf_length=ln)
            row = cdfs[i, :ln].astype(np.int64)
            if row[0] != 0:
                raise InvalidTableError("CDF must start at 0", i, first=int(row[0]))
            if row[-1] != total:
                raise InvalidTableError("CDF must end at 1 << precision", i, last=int(row[-1]), total=total)
            d = np.diff(row)
            if d.size and d.min() < 1:
                j = int(np.argmin(d))
                raise InvalidTableError("CDF must be strictly increasing (every frequency >= 1)", i,
                                        symbol=j, frequency=int(d[j]))
        max_len = int(lengths.max())
        canon = np.full((n, max_len), total, dtype=np.int32)
        for i in range(n):
            ln = int(lengths[i])
            canon[i, :ln] = cdfs[i, :ln]
        object.__setattr__(self, "precision", precision)
        object.__setattr__(self, "cdfs", _frozen(canon))
        object.__setattr__(self, "cdf_lengths", _frozen(lengths.astype(np.int32)))
        object.__setattr__(self, "offsets", _frozen(offsets.astype(np.int32)))
        object.__setattr__(self, "_hash", hashlib.sha256(self.to_bytes()).hexdigest())

    # -- identity -------------------------------------------------------------------------------------------
    @property
    def n_tables(self) -> int:
        return int(self.cdfs.shape[0])

    @property
    def content_hash(self) -> str:
        """sha256 (hex) of :meth:`to_bytes`, the canonical serialisation."""
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CdfTables):
            return NotImplemented
        return self._hash == other._hash

    def __hash__(self) -> int:
        return hash(self._hash)

    def __repr__(self) -> str:
        return (f"CdfTables(n_tables={self.n_tables}, max_cdf_length={self.cdfs.shape[1]}, "
                f"precision={self.precision}, content_hash={self._hash[:16]}...)")

    # -- serialisation --------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Canonical bytes: header ``<8sII`` (magic, precision, n_tables), then per table ``<ii``
        (cdf_length, offset) followed by its ``cdf_length`` CDF entries as little-endian int32.
        Padding is not serialised."""
        out = io.BytesIO()
        out.write(_HEADER.pack(_MAGIC, self.precision, self.n_tables))
        for i in range(self.n_tables):
            ln = int(self.cdf_lengths[i])
            out.write(struct.pack("<ii", ln, int(self.offsets[i])))
            out.write(self.cdfs[i, :ln].astype("<i4").tobytes())
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "CdfTables":
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise InvalidTableError("serialised tables too short", size=len(data), header_size=_HEADER.size)
        magic, precision, n = _HEADER.unpack_from(data, 0)
        if magic != _MAGIC:
            raise InvalidTableError("bad magic in serialised tables")
        pos = _HEADER.size
        rows, lengths, offsets = [], [], []
        for i in range(n):
            if pos + 8 > len(data):
                raise InvalidTableError("serialised tables truncated", i, offset=pos, size=len(data))
            ln, off = struct.unpack_from("<ii", data, pos)
            pos += 8
            if ln < 2 or pos + 4 * ln > len(data):
                raise InvalidTableError("serialised tables truncated or bad length", i, cdf_length=ln, offset=pos)
            rows.append(np.frombuffer(data, dtype="<i4", count=ln, offset=pos).astype(np.int32))
            pos += 4 * ln
            lengths.append(ln)
            offsets.append(off)
        if pos != len(data):
            raise InvalidTableError("trailing bytes after serialised tables", size=len(data), consumed=pos)
        if n == 0:
            raise InvalidTableError("need at least one table", n_tables=0)
        width = max(lengths)
        cdfs = np.full((n, width), 1 << precision if precision <= 30 else 0, dtype=np.int32)
        for i, r in enumerate(rows):
            cdfs[i, : r.size] = r
        return cls(cdfs=cdfs, cdf_lengths=np.array(lengths, np.int32), offsets=np.array(offsets, np.int32),
                   precision=int(precision))

    def to_npz(self, path) -> None:
        np.savez(path, cdfs=self.cdfs, cdf_lengths=self.cdf_lengths, offsets=self.offsets,
                 precision=np.int32(self.precision))

    @classmethod
    def from_npz(cls, path) -> "CdfTables":
        with np.load(path, allow_pickle=False) as f:
            return cls(cdfs=f["cdfs"], cdf_lengths=f["cdf_lengths"], offsets=f["offsets"],
                       precision=int(f["precision"]))


# ---------------------------------------------------------------------------------------------------------
def default_scale_table() -> np.ndarray:
    """The 64 scales of the ``y`` Gaussian tables: ``exp(linspace(log(0.11), log(256), 64))``, ascending."""
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), N_SCALES))


def quantize_pmf(pmf: np.ndarray, precision: int = DEFAULT_PRECISION) -> np.ndarray:
    """Quantise a probability vector (escape included, last) to int64 frequencies, each >= 1, summing to
    exactly ``1 << precision``. Deterministic: float64 math, floor, then integer fixups ordered by stable sorts.

    1. ``f = max(1, floor(p * T))`` with ``p`` normalised to sum 1.
    2. If ``sum(f) < T``: +1 to the symbols with the largest remainders ``p*T - f`` (ties: lower index first).
    3. If ``sum(f) > T``: -1 from symbols with ``f > 1`` in order of the smallest coding cost of the decrement,
       ``p * log2(f / (f - 1))`` (ties: lower index first), repeated until the sum is exact.
    """
    total = 1 << precision
    p = np.asarray(pmf, dtype=np.float64).copy()
    n = p.size
    if n < 1 or n > total:
        raise InvalidTableError("pmf length out of range", length=n, total=total)
    if not np.all(np.isfinite(p)):
        raise InvalidTableError("pmf has non-finite entries")
    p = np.maximum(p, 0.0)
    s = p.sum()
    if s <= 0:
        p = np.full(n, 1.0 / n)
    else:
        p = p / s
    target = p * float(total)
    f = np.maximum(np.floor(target), 1.0).astype(np.int64)
    d = total - int(f.sum())
    if d > 0:
        rem = target - f
        order = np.argsort(-rem, kind="stable")
        # d < n because every floor loses < 1; cycle anyway for safety
        while d > 0:
            k = min(d, n)
            f[order[:k]] += 1
            d -= k
    while d < 0:
        cand = np.flatnonzero(f > 1)
        cost = p[cand] * np.log2(f[cand] / (f[cand] - 1.0))
        order = cand[np.argsort(cost, kind="stable")]
        k = min(-d, order.size)
        f[order[:k]] -= 1
        d += k
    assert int(f.sum()) == total and f.min() >= 1
    return f


def _cdf_from_freqs(freqs: np.ndarray) -> np.ndarray:
    c = np.zeros(freqs.size + 1, dtype=np.int64)
    np.cumsum(freqs, out=c[1:])
    return c


def _phi(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, float64, via math.erfc (numpy has no erf)."""
    erfc = np.frompyfunc(math.erfc, 1, 1)
    return 0.5 * erfc(-np.asarray(x, np.float64) / math.sqrt(2.0)).astype(np.float64)


def gaussian_tables(scale_table: Sequence[float] | np.ndarray, precision: int = DEFAULT_PRECISION,
                    tail_mass: float = DEFAULT_TAIL_MASS) -> CdfTables:
    """Zero-mean discretised Gaussian tables, one per scale (CompressAI ``GaussianConditional`` style).

    For scale ``s`` the support is ``k in [-c, c]`` with ``c = ceil(s * z)``, ``z = -Phi^-1(tail_mass / 2)``;
    ``pmf(k) = Phi((0.5 - |k|)/s) - Phi((-0.5 - |k|)/s)`` (both terms in the lower tail for precision) and the
    escape symbol gets the two tails ``2 * Phi((-0.5 - c)/s)``. Table index i means ``scale_table[i]``.
    """
    scales = np.asarray(scale_table, dtype=np.float64)
    if scales.ndim != 1 or scales.size < 1:
        raise InvalidTableError("scale_table must be a non-empty 1-D array", ndim=scales.ndim, size=scales.size)
    if not (0.0 < tail_mass < 1.0):
        raise InvalidTableError(f"tail_mass must be in (0, 1), got {tail_mass!r}")
    for i, s in enumerate(scales):
        if not (np.isfinite(s) and s > 0):
            raise InvalidTableError(f"scale must be finite and > 0, got {s!r}", i)
    if np.any(np.diff(scales) <= 0):
        j = int(np.flatnonzero(np.diff(scales) <= 0)[0]) + 1
        raise InvalidTableError("scale_table must be strictly ascending", j)
    z = -statistics.NormalDist().inv_cdf(tail_mass / 2.0)
    total = 1 << precision
    rows, lengths, offsets = [], [], []
    for i, s in enumerate(scales):
        c = int(math.ceil(float(s) * z))
        n_sym = 2 * c + 2
        if n_sym > total:
            raise InvalidTableError("scale too large for the precision", i, n_symbols=n_sym, total=total)
        k = np.abs(np.arange(-c, c + 1, dtype=np.float64))
        pmf = _phi((0.5 - k) / s) - _phi((-0.5 - k) / s)
        tail = 2.0 * float(_phi(np.array([(-0.5 - c) / s]))[0])
        freqs = quantize_pmf(np.append(pmf, tail), precision)
        rows.append(_cdf_from_freqs(freqs))
        lengths.append(n_sym + 1)
        offsets.append(-c)
    return _assemble(rows, lengths, offsets, precision)


def tables_from_pmfs(pmfs, offsets, lengths=None, precision: int = DEFAULT_PRECISION,
                     tail_masses=None) -> CdfTables:
    """Tables from explicit probability vectors (the learned factorized prior of ``z``).

    ``pmfs[i][:lengths[i]]`` are the probabilities of the values ``offsets[i] ... offsets[i] + lengths[i] - 1``;
    an escape symbol is appended with probability ``tail_masses[i]`` if given, else ``max(0, 1 - sum(pmf))``
    (it always receives at least frequency 1).
    """
    n = len(pmfs)
    offsets = np.asarray(offsets)
    if offsets.shape != (n,):
        raise InvalidTableError("offsets must have one entry per pmf", n_pmfs=n, n_offsets=offsets.size)
    if lengths is None:
        lengths = [len(p) for p in pmfs]
    lengths = np.asarray(lengths)
    if lengths.shape != (n,):
        raise InvalidTableError("lengths must have one entry per pmf", n_pmfs=n, n_lengths=lengths.size)
    rows, lens, offs = [], [], []
    total = 1 << precision
    for i in range(n):
        ln = int(lengths[i])
        p = np.asarray(pmfs[i], dtype=np.float64).ravel()
        if ln < 1 or ln > p.size:
            raise InvalidTableError("length out of range", i, length=ln, pmf_size=p.size)
        p = p[:ln]
        if not np.all(np.isfinite(p)) or p.min() < 0:
            raise InvalidTableError("pmf entries must be finite and >= 0", i)
        if ln + 1 > total:
            raise InvalidTableError("more symbols than 1 << precision", i, n_symbols=ln + 1, total=total)
        tail = max(0.0, 1.0 - float(p.sum())) if tail_masses is None else float(tail_masses[i])
        if not (np.isfinite(tail) and tail >= 0):
            raise InvalidTableError("tail mass must be finite and >= 0", i)
        freqs = quantize_pmf(np.append(p, tail), precision)
        rows.append(_cdf_from_freqs(freqs))
        lens.append(ln + 2)
        offs.append(int(offsets[i]))
    return _assemble(rows, lens, offs, precision)


def _assemble(rows, lengths, offsets, precision) -> CdfTables:
    width = max(lengths)
    cdfs = np.full((len(rows), width), 1 << precision, dtype=np.int32)
    for i, r in enumerate(rows):
        cdfs[i, : r.size] = r
    return CdfTables(cdfs=cdfs, cdf_lengths=np.asarray(lengths, np.int32),
                     offsets=np.asarray(offsets, np.int64), precision=precision)
