"""CCSDS RS(255,223): codewords and corrections against reedsolo (conventional basis) and libfec's Tal tables."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboard.errors import UncorrectableError
from onboard.packets import rs_decode, rs_encode
from onboard.packets.reed_solomon import (
    GENERATOR_POLY, TAL1TAB, TALTAB, rs_decode_array, rs_encode_array, to_conventional_basis, to_dual_basis,
)

reedsolo = pytest.importorskip("reedsolo")

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "packet_vectors.json").read_text())

# libfec ccsds_tab.c (Phil Karn), Taltab[]: conventional -> dual basis, first 32 entries and a few more
LIBFEC_TALTAB_HEAD = bytes.fromhex("007bafd499e2364dfa81552e6318ccb786fd29521f64b0cb7c07d3a8e59e4a31")
LIBFEC_TAL1TAB_HEAD = bytes.fromhex("00ccac6079b5d519f03c5c90894525e9fd31519d844828e40dc1a16d74b8d814")


def _ref_codec(nsize: int = 255):
    return reedsolo.RSCodec(32, nsize=nsize, fcr=112, prim=0x187, generator=173)


def _interleave(words: list[bytes]) -> bytes:
    return np.stack([np.frombuffer(w, np.uint8) for w in words], axis=1).reshape(-1).tobytes()


def _deinterleave(block: bytes, depth: int) -> list[bytes]:
    a = np.frombuffer(block, np.uint8).reshape(-1, depth)
    return [a[:, c].tobytes() for c in range(depth)]


def test_code_parameters():
    # alpha^11 = 173 in GF(2^8)/0x187 is reedsolo's "generator" (base of its tables and roots)
    x = 1
    for _ in range(11):
        x <<= 1
        if x & 0x100:
            x ^= 0x187
    assert x == 173
    g = GENERATOR_POLY.tolist()
    assert len(g) == 33 and g == g[::-1]  # the CCSDS generator is palindromic
    assert g[:8] == [1, 91, 127, 86, 16, 30, 13, 235]  # CCSDS 131.0-B-4 Annex / libfec
    assert g == list(_ref_codec().gen[32])
    assert TALTAB[:32].tobytes() == LIBFEC_TALTAB_HEAD
    assert TAL1TAB[:32].tobytes() == LIBFEC_TAL1TAB_HEAD
    assert all(TAL1TAB[TALTAB[i]] == i for i in range(256))
    assert (TALTAB[0x80], TALTAB[0xFF], TAL1TAB[0xFF]) == (0x8D, 0xBF, 0xBD)


@settings(max_examples=30, deadline=None)
@given(msg=st.binary(min_size=223, max_size=223))
def test_conventional_codeword_equals_reedsolo(msg):
    assert rs_encode(msg, basis="conventional") == bytes(_ref_codec().encode(msg))


@settings(max_examples=30, deadline=None)
@given(msg=st.binary(min_size=223, max_size=223))
def test_dual_codeword_is_tal_around_reedsolo(msg):
    ref = bytes(_ref_codec().encode(to_conventional_basis(msg)))
    ours = rs_encode(msg)
    assert ours[:223] == msg and ours[223:] == to_dual_basis(ref[223:])
    assert rs_decode(ours) == (msg, 0)


def test_golden_rs_codeword():
    g = GOLDEN["rs_codeword"]
    msg = bytes(range(223))
    assert rs_encode(msg, 1, "conventional")[223:].hex() == g["conventional_parity_hex"]
    assert rs_encode(msg, 1, "dual")[223:].hex() == g["dual_parity_hex"]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_err=st.integers(0, 16), basis=st.sampled_from(["dual", "conventional"]))
def test_corrects_up_to_16_symbol_errors(seed, n_err, basis):
    rng = np.random.default_rng(seed)
    msg = rng.integers(0, 256, 223, np.uint8).tobytes()
    cw = bytearray(rs_encode(msg, basis=basis))
    pos = rng.choice(255, n_err, replace=False)
    for p in pos:
        cw[p] ^= int(rng.integers(1, 256))
    out, corrected = rs_decode(bytes(cw), basis=basis)
    assert out == msg and corrected == n_err
    if basis == "conventional":
        dec, _, errata = _ref_codec().decode(bytes(cw))
        assert bytes(dec) == out and len(errata) == corrected


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_err=st.integers(17, 60))
def test_flags_17_or_more_errors_and_never_miscorrects(seed, n_err):
    rng = np.random.default_rng(seed)
    msg = rng.integers(0, 256, 223, np.uint8).tobytes()
    cw = bytearray(rs_encode(msg))
    for p in rng.choice(255, n_err, replace=False):
        cw[p] ^= int(rng.integers(1, 256))
    with pytest.raises(UncorrectableError):
        rs_decode(bytes(cw))
    # the batch form reports -1 and hands back the received message octets untouched
    out, counts = rs_decode_array(np.frombuffer(bytes(cw), np.uint8)[None, :])
    assert counts[0, 0] == -1 and out.tobytes() == bytes(cw[:223])


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 8])
def test_interleaving(depth):
    rng = np.random.default_rng(depth)
    msg = rng.integers(0, 256, 223 * depth, np.uint8).tobytes()
    block = rs_encode(msg, interleave=depth)
    assert len(block) == 255 * depth and block[:223 * depth] == msg
    words = _deinterleave(block, depth)
    for c, w in enumerate(words):  # each codeword is the plain code applied to every depth-th octet
        assert w == rs_encode(msg[c::depth], 1)
    # a burst of 16*depth consecutive octets is corrected: 16 symbols in each codeword
    bad = bytearray(block)
    start = int(rng.integers(0, 255 * depth - 16 * depth))
    for i in range(start, start + 16 * depth):
        bad[i] ^= 0xA5
    out, corrected = rs_decode(bytes(bad), interleave=depth)
    assert out == msg and corrected == 16 * depth
    # one codeword beyond its power makes the whole block uncorrectable
    worse = bytearray(block)
    for j in range(17):
        worse[j * depth] ^= 0x5A
    with pytest.raises(UncorrectableError):
        rs_decode(bytes(worse), interleave=depth)


@pytest.mark.parametrize("k,depth", [(223, 1), (200, 1), (100, 5), (1, 2), (150, 8)])
def test_virtual_fill(k, depth):
    rng = np.random.default_rng(k)
    msg = rng.integers(0, 256, k * depth, np.uint8).tobytes()
    block = rs_encode(msg, interleave=depth, basis="conventional")
    assert len(block) == (k + 32) * depth
    # a shortened codeword equals the full codeword of the zero-padded message, minus the padding
    for c, w in enumerate(_deinterleave(block, depth)):
        full = rs_encode(bytes(223 - k) + msg[c::depth], 1, "conventional")
        assert w == full[223 - k:]
        assert w == bytes(_ref_codec().encode(msg[c::depth]))
    bad = bytearray(block)
    for p in rng.choice(len(block), min(16, k + 32), replace=False):
        bad[p] ^= 0xFF
    out, _ = rs_decode(bytes(bad), depth, "conventional")
    assert out == msg
    dual = rs_encode(msg, interleave=depth)
    assert rs_decode(dual, depth) == (msg, 0)


def test_shortened_word_rejects_error_locations_in_the_fill():
    # 17+ errors in a short codeword may yield a locator whose roots fall in the virtual fill: flagged
    rng = np.random.default_rng(5)
    flagged = 0
    for _ in range(50):
        msg = rng.integers(0, 256, 40, np.uint8).tobytes()
        cw = bytearray(rs_encode(msg))
        for p in rng.choice(72, 20, replace=False):
            cw[p] ^= int(rng.integers(1, 256))
        try:
            out, _ = rs_decode(bytes(cw))
        except UncorrectableError:
            flagged += 1
        else:  # a miscorrection (odds ~1e-13) would still have to be a true codeword
            assert out != msg
    assert flagged == 50


def test_bad_arguments():
    with pytest.raises(ValueError):
        rs_encode(bytes(224))
    with pytest.raises(ValueError):
        rs_encode(bytes(223), interleave=9)
    with pytest.raises(ValueError):
        rs_encode(bytes(223), basis="weird")
    with pytest.raises(ValueError):
        rs_decode(bytes(32))
    with pytest.raises(ValueError):
        rs_decode(bytes(256))


def test_batch_api_matches_single():
    rng = np.random.default_rng(0)
    msgs = rng.integers(0, 256, (6, 1115), np.uint8)
    blocks = rs_encode_array(msgs, 5)
    for i in range(6):
        assert blocks[i].tobytes() == rs_encode(msgs[i].tobytes(), 5)
    blocks[2, 7] ^= 1
    out, counts = rs_decode_array(blocks, 5)
    assert (out == msgs).all() and counts.sum() == 1 and counts[2].sum() == 1
