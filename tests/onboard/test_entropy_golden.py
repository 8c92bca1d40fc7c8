"""Golden vector of the flight rANS stream (tests/golden/entropy_v2.json, annotated word by word).

Fails if the stream bytes or the default Gaussian tables change. Regenerate only on purpose with
``python tests/golden/make_entropy_golden.py``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from onboard.entropy import decode_with_indexes, default_scale_table, encode_with_indexes, gaussian_tables

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "entropy_v2.json"


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="module")
def tables():
    return gaussian_tables(default_scale_table())


def test_default_tables_content_hash(golden, tables):
    assert tables.content_hash == golden["tables_content_hash"]


def test_golden_stream_bytes(golden, tables):
    sym = np.array(golden["symbols"], np.int32)
    idx = np.array(golden["indexes"], np.int32)
    assert encode_with_indexes(sym, idx, tables).hex() == golden["stream_hex"]


def test_golden_stream_decodes(golden, tables):
    out = decode_with_indexes(bytes.fromhex(golden["stream_hex"]), np.array(golden["indexes"]), tables)
    assert out.tolist() == golden["symbols"]


def test_golden_annotation_matches_bytes(golden):
    data = bytes.fromhex(golden["stream_hex"])
    assert len(data) == golden["stream_nbytes"]
    assert len(golden["layout"]) == len(data) // 4
    for j, entry in enumerate(golden["layout"]):
        assert entry["bytes"] == f"{4 * j}-{4 * j + 3}"
        assert int(entry["word"], 16) == int.from_bytes(data[4 * j:4 * j + 4], "little")
    assert golden["escaped_positions"], "the golden input must exercise the escape path"
