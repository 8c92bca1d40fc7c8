"""Gilbert–Elliott statistics, accounting-mode frame losses and bit-true corruption."""
from __future__ import annotations

import numpy as np
import pytest

from sim.channel import GilbertElliott, corrupt_frame, frame_losses


def run_lengths(x: np.ndarray) -> np.ndarray:
    d = np.diff(np.concatenate(([0], x.astype(np.int8), [0])))
    return np.flatnonzero(d == -1) - np.flatnonzero(d == 1)


@pytest.mark.parametrize("rate,burst", [(0.01, 5.0), (0.05, 20.0), (0.2, 2.0)])
def test_gilbert_elliott_hits_target_rate_and_burst_length(rate, burst):
    ge = GilbertElliott.from_loss_rate(rate, burst)
    assert ge.mean_loss_rate == pytest.approx(rate)
    assert ge.mean_bad_sojourn_frames == pytest.approx(burst)
    rng = np.random.default_rng(12345)
    lost = ge.losses(3_000_000, rng)
    assert lost.mean() == pytest.approx(rate, rel=0.05)
    assert run_lengths(lost).mean() == pytest.approx(burst, rel=0.05)


def test_gilbert_elliott_chain_continues_across_calls():
    ge = GilbertElliott.from_loss_rate(0.02, 10.0)
    rng = np.random.default_rng(7)
    parts, state = [], None
    for _ in range(3000):
        x, state = ge.sample(1000, rng, state)
        parts.append(x)
    lost = np.concatenate(parts)
    assert lost.mean() == pytest.approx(0.02, rel=0.05)
    assert run_lengths(lost).mean() == pytest.approx(10.0, rel=0.05)


def test_general_gilbert_elliott_loss_rate():
    ge = GilbertElliott.from_loss_rate(0.03, 8.0, loss_good=0.001, loss_bad=0.5)
    lost = ge.losses(3_000_000, np.random.default_rng(3))
    assert lost.mean() == pytest.approx(0.03, rel=0.05)


def test_seeded_and_degenerate_cases():
    ge = GilbertElliott.from_loss_rate(0.05, 4.0)
    a = ge.losses(10_000, np.random.default_rng(1))
    b = ge.losses(10_000, np.random.default_rng(1))
    assert np.array_equal(a, b)
    assert ge.losses(0, np.random.default_rng(1)).shape == (0,)
    never = GilbertElliott(p_gb=0.0, p_bg=1.0)
    assert not never.losses(10_000, np.random.default_rng(2)).any()
    always = GilbertElliott(p_gb=1.0, p_bg=0.0)
    assert always.sample(100, np.random.default_rng(2), prev_bad=True)[0].all()


@pytest.mark.parametrize(
    "args", [(-0.1, 5.0), (0.1, 0.5), (1.0, 5.0), (0.9, 1.0)]
)
def test_gilbert_elliott_rejects_bad_parameters(args):
    with pytest.raises(ValueError):
        GilbertElliott.from_loss_rate(*args)


def test_frame_losses_combines_fer_and_bursts():
    rng = np.random.default_rng(11)
    lost, _ = frame_losses(1_000_000, 0.01, rng)
    assert lost.mean() == pytest.approx(0.01, rel=0.05)
    ge = GilbertElliott.from_loss_rate(0.02, 6.0)
    lost, _ = frame_losses(2_000_000, 0.01, rng, ge)
    # Independent union: 1 − (1 − 0.01)(1 − 0.02) = 0.0298
    assert lost.mean() == pytest.approx(0.0298, rel=0.05)
    per_frame = np.zeros(1000)
    per_frame[::10] = 1.0
    lost, _ = frame_losses(1000, per_frame, rng)
    assert np.array_equal(lost, per_frame == 1.0)


def test_corrupt_frame_ber_and_bursts():
    rng = np.random.default_rng(5)
    frame = bytes(range(256)) * 40  # 10240 bytes
    n_bits = len(frame) * 8
    flips = 0
    for _ in range(50):
        out = corrupt_frame(frame, 1e-3, rng)
        assert len(out) == len(frame)
        flips += int(np.unpackbits(np.frombuffer(out, np.uint8) ^ np.frombuffer(frame, np.uint8)).sum())
    assert flips / (50 * n_bits) == pytest.approx(1e-3, rel=0.05)
    # Bursts of mean 16 bits, all flipped: same BER, errors come in runs.
    out = corrupt_frame(bytes(2_000_000), 2e-3, rng, mean_burst_bits=16.0)
    bits = np.unpackbits(np.frombuffer(out, np.uint8))
    assert bits.mean() == pytest.approx(2e-3, rel=0.1)
    assert run_lengths(bits.astype(bool)).mean() > 10.0
    assert corrupt_frame(frame, 0.0, rng) == frame
    assert corrupt_frame(b"", 0.5, rng) == b""
    with pytest.raises(ValueError):
        corrupt_frame(frame, 1.5, rng)
    with pytest.raises(ValueError):
        corrupt_frame(frame, 1e-3, rng, mean_burst_bits=0.5)
