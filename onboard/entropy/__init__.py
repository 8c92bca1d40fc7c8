"""Flight entropy coder: frozen integer CDF tables and a numba rANS coder with per-symbol table indexes.

Importing this package imports numba but compiles nothing; kernels compile on first use (and are cached on
disk). Stream format and error behaviour: :mod:`onboard.entropy.coder`; table layout: :mod:`.tables`.
"""
from __future__ import annotations

from onboard.errors import CorruptStreamError
from onboard.entropy.tables import (
    CdfTables,
    InvalidTableError,
    default_scale_table,
    gaussian_tables,
    quantize_pmf,
    tables_from_pmfs,
)
from onboard.entropy.coder import (
    EntropyInputError,
    IndexOutOfRangeError,
    ShapeMismatchError,
    SymbolRangeError,
    decode_batch,
    decode_batch_status,
    decode_with_indexes,
    encode_batch,
    encode_with_indexes,
    ideal_bits,
    symbol_bits,
)

__all__ = [
    "CdfTables",
    "CorruptStreamError",
    "EntropyInputError",
    "IndexOutOfRangeError",
    "InvalidTableError",
    "ShapeMismatchError",
    "SymbolRangeError",
    "decode_batch",
    "decode_batch_status",
    "decode_with_indexes",
    "default_scale_table",
    "encode_batch",
    "encode_with_indexes",
    "gaussian_tables",
    "ideal_bits",
    "symbol_bits",
    "quantize_pmf",
    "tables_from_pmfs",
]
