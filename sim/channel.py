"""Channel impairments: Gilbert–Elliott burst losses, per-frame FER losses, bit-true corruption.

Two ways to use them:

- accounting mode: :func:`frame_losses` says which transfer frames are lost (Gilbert–Elliott bursts OR'ed with
  independent per-frame FER draws);
- bit-true mode: :func:`corrupt_frame` flips bits of real frame bytes at a bit error rate, optionally in bursts,
  and the ground decoder (RS, CRC) decides what survives.

The random generator is always an argument.

>>> ge = GilbertElliott.from_loss_rate(mean_loss_rate=0.01, mean_burst_length=5.0)
>>> round(ge.p_bg, 3), round(ge.p_gb, 6), round(ge.mean_loss_rate, 6)
(0.2, 0.00202, 0.01)
>>> lost = ge.losses(1000, np.random.default_rng(1))
>>> lost.dtype, lost.shape
(dtype('bool'), (1000,))
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.errors import ChannelConfigError


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ChannelConfigError(f"{name}={value}; must be a probability in [0, 1]")


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state Markov loss model over frames.

    Each frame the chain moves good→bad with ``p_gb`` and bad→good with ``p_bg``; a frame in the good (bad)
    state is lost with ``loss_good`` (``loss_bad``). With the classic Gilbert setting (``loss_good=0``,
    ``loss_bad=1``) a loss burst is a bad-state sojourn: geometric with mean ``1/p_bg`` frames.
    """

    p_gb: float
    p_bg: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    def __post_init__(self) -> None:
        for name in ("p_gb", "p_bg", "loss_good", "loss_bad"):
            _check_prob(name, getattr(self, name))
        if self.p_gb + self.p_bg == 0.0:
            raise ChannelConfigError("p_gb + p_bg = 0: the chain never moves; give at least one non-zero")

    @classmethod
    def from_loss_rate(
        cls,
        mean_loss_rate: float,
        mean_burst_length: float,
        loss_good: float = 0.0,
        loss_bad: float = 1.0,
    ) -> "GilbertElliott":
        """Model with the given long-run frame loss rate and mean bad-state sojourn (frames).

        With the default ``loss_good=0, loss_bad=1`` the mean burst of consecutive lost frames equals
        ``mean_burst_length``. π_bad = (rate − loss_good)/(loss_bad − loss_good), p_bg = 1/L,
        p_gb = p_bg·π_bad/(1 − π_bad).
        """
        if not mean_burst_length >= 1.0:
            raise ChannelConfigError(f"mean_burst_length={mean_burst_length}; must be >= 1 frame")
        _check_prob("mean_loss_rate", mean_loss_rate)
        if not loss_bad > loss_good:
            raise ChannelConfigError(f"loss_bad={loss_bad} must exceed loss_good={loss_good}")
        pi_bad = (mean_loss_rate - loss_good) / (loss_bad - loss_good)
        if not 0.0 <= pi_bad < 1.0:
            raise ChannelConfigError(
                f"mean_loss_rate={mean_loss_rate} is not reachable with loss_good={loss_good}, "
                f"loss_bad={loss_bad} (needs a bad-state share {pi_bad:.4g} in [0, 1))"
            )
        p_bg = 1.0 / mean_burst_length
        p_gb = p_bg * pi_bad / (1.0 - pi_bad)
        if p_gb > 1.0:
            raise ChannelConfigError(
                f"mean_loss_rate={mean_loss_rate} with mean_burst_length={mean_burst_length} needs "
                f"p_gb={p_gb:.4g} > 1"
            )
        return cls(p_gb=p_gb, p_bg=p_bg, loss_good=loss_good, loss_bad=loss_bad)

    @property
    def stationary_bad(self) -> float:
        """Long-run fraction of frames in the bad state, p_gb/(p_gb + p_bg)."""
        return self.p_gb / (self.p_gb + self.p_bg)

    @property
    def mean_loss_rate(self) -> float:
        """Long-run frame loss rate."""
        pb = self.stationary_bad
        return (1.0 - pb) * self.loss_good + pb * self.loss_bad

    @property
    def mean_bad_sojourn_frames(self) -> float:
        """Mean length of a bad-state sojourn, 1/p_bg (inf when p_bg = 0)."""
        return math.inf if self.p_bg == 0.0 else 1.0 / self.p_bg

    def states(self, n_frames: int, rng: np.random.Generator, start_bad: bool | None = None) -> np.ndarray:
        """Bad-state indicator per frame (bool array). ``start_bad=None`` draws the stationary distribution."""
        n = int(n_frames)
        if n < 0:
            raise ChannelConfigError(f"n_frames={n_frames}; must be >= 0")
        bad = bool(rng.random() < self.stationary_bad) if start_bad is None else bool(start_bad)
        out = np.empty(n, dtype=bool)
        pos = 0
        cycle = (1.0 / self.p_gb if self.p_gb else math.inf) + (1.0 / self.p_bg if self.p_bg else math.inf)
        while pos < n:
            remaining = n - pos
            k = 4 + (int(1.2 * remaining / cycle) if math.isfinite(cycle) else 0)
            # Sojourn lengths (geometric, >= 1), alternating, starting with the current state.
            p_first, p_second = (self.p_bg, self.p_gb) if bad else (self.p_gb, self.p_bg)
            first = rng.geometric(p_first, k) if p_first > 0 else np.full(k, remaining + 1)
            second = rng.geometric(p_second, k) if p_second > 0 else np.full(k, remaining + 1)
            lengths = np.empty(2 * k, dtype=np.int64)
            lengths[0::2], lengths[1::2] = first, second
            ends = np.cumsum(lengths)
            n_runs = int(np.searchsorted(ends, remaining, side="left")) + 1
            n_runs = min(n_runs, 2 * k)
            run_states = np.empty(n_runs, dtype=bool)
            run_states[0::2], run_states[1::2] = bad, not bad
            lens = lengths[:n_runs].copy()
            covered = int(ends[n_runs - 1])
            if covered > remaining:
                lens[-1] -= covered - remaining
            out[pos : pos + int(lens.sum())] = np.repeat(run_states, lens)
            pos += int(lens.sum())
            # Next batch starts a fresh sojourn: valid because geometric sojourns are memoryless.
            bad = not bool(run_states[-1]) if covered <= remaining else bool(run_states[-1])
        return out

    def sample(
        self, n_frames: int, rng: np.random.Generator, prev_bad: bool | None = None
    ) -> tuple[np.ndarray, bool]:
        """Lost-frame indicator for ``n_frames`` consecutive frames and the state of the last frame.

        ``prev_bad`` is the state of the frame just before the first one (the second value returned by the
        previous call), so consecutive calls continue one chain; ``None`` starts from the stationary distribution.
        """
        start_bad: bool | None = None
        if prev_bad is not None:
            flip = rng.random() < (self.p_bg if prev_bad else self.p_gb)
            start_bad = bool(prev_bad) != bool(flip)
        st = self.states(n_frames, rng, start_bad)
        if st.size:
            end_bad = bool(st[-1])
        else:
            end_bad = bool(prev_bad) if prev_bad is not None else bool(rng.random() < self.stationary_bad)
        if self.loss_good == 0.0 and self.loss_bad == 1.0:
            return st.copy(), end_bad
        u = rng.random(st.size)
        return u < np.where(st, self.loss_bad, self.loss_good), end_bad

    def losses(self, n_frames: int, rng: np.random.Generator) -> np.ndarray:
        """Lost-frame indicator (bool array) for ``n_frames`` frames, starting from the stationary state."""
        return self.sample(n_frames, rng)[0]


def frame_losses(
    n_frames: int,
    fer: float | np.ndarray,
    rng: np.random.Generator,
    channel: GilbertElliott | None = None,
    prev_bad: bool | None = None,
) -> tuple[np.ndarray, bool]:
    """Accounting mode: which of ``n_frames`` frames are lost, and the Gilbert–Elliott state of the last frame.

    A frame is lost when its independent draw falls under ``fer`` (scalar or one value per frame: the link's
    frame loss probability) or when the burst channel loses it; ``prev_bad`` continues a burst chain.

    >>> lost, _ = frame_losses(5, np.array([0, 0, 1, 0, 1.0]), np.random.default_rng(0))
    >>> lost.tolist()
    [False, False, True, False, True]
    """
    n = int(n_frames)
    p = np.broadcast_to(np.asarray(fer, dtype=np.float64), (n,))
    lost = rng.random(n) < p
    end_bad = bool(prev_bad) if prev_bad is not None else False
    if channel is not None:
        burst, end_bad = channel.sample(n, rng, prev_bad)
        lost |= burst
    return lost, end_bad


def corrupt_frame(
    frame: bytes,
    ber: float,
    rng: np.random.Generator,
    mean_burst_bits: float = 1.0,
    burst_density: float = 1.0,
) -> bytes:
    """Bit-true mode: return ``frame`` with bits flipped at an average bit error rate ``ber``.

    Error events start at each bit with probability ``ber / (mean_burst_bits · burst_density)``; an event covers a
    geometric number of consecutive bits (mean ``mean_burst_bits``), each flipped with ``burst_density``.
    ``mean_burst_bits=1`` gives independent errors. Overlapping bursts are merged (so at very high BER the
    realised rate is slightly lower). Bit 0 is the most significant bit of byte 0.

    >>> rng = np.random.default_rng(0)
    >>> corrupt_frame(bytes(4), 0.0, rng) == bytes(4)
    True
    >>> out = corrupt_frame(bytes(100_000), 1e-3, rng, mean_burst_bits=8.0, burst_density=0.5)
    >>> 600 < int(np.unpackbits(np.frombuffer(out, np.uint8)).sum()) < 1000
    True
    """
    _check_prob("ber", ber)
    _check_prob("burst_density", burst_density)
    if not mean_burst_bits >= 1.0:
        raise ChannelConfigError(f"mean_burst_bits={mean_burst_bits}; must be >= 1")
    n_bits = len(frame) * 8
    if n_bits == 0 or ber == 0.0 or burst_density == 0.0:
        return bytes(frame)
    p_start = min(1.0, ber / (mean_burst_bits * burst_density))
    k = int(rng.binomial(n_bits, p_start))
    if k == 0:
        return bytes(frame)
    starts = rng.integers(0, n_bits, size=k)
    lengths = rng.geometric(1.0 / mean_burst_bits, size=k) if mean_burst_bits > 1.0 else np.ones(k, np.int64)
    total = int(lengths.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = np.repeat(starts, lengths) + offsets
    pos = pos[pos < n_bits]
    if burst_density < 1.0:
        pos = pos[rng.random(pos.size) < burst_density]
    mask = np.zeros(n_bits, dtype=np.uint8)
    mask[pos] = 1
    data = np.frombuffer(bytes(frame), dtype=np.uint8) ^ np.packbits(mask)
    return data.tobytes()
