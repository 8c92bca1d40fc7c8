"""Typed errors of the downlink simulator.

Each error is a ``ValueError`` (and a :class:`onboard.errors.SatcompError`) whose message carries the numbers
that explain it.

>>> from datetime import datetime
>>> try:
...     raise NaiveDatetimeError("start", datetime(2024, 1, 1))
... except ValueError as exc:
...     print(exc)
start=2024-01-01 00:00:00 is a naive datetime; pass a timezone-aware one (e.g. tzinfo=timezone.utc)
"""
from __future__ import annotations

from datetime import datetime

from onboard.errors import SatcompError


class SimError(SatcompError, ValueError):
    """Base class of the simulator's deliberate errors."""


class NaiveDatetimeError(SimError):
    """A datetime without tzinfo was given where a UTC instant is required."""

    def __init__(self, name: str, value: datetime) -> None:
        self.name = name
        self.value = value
        super().__init__(
            f"{name}={value.isoformat(sep=' ')} is a naive datetime; "
            "pass a timezone-aware one (e.g. tzinfo=timezone.utc)"
        )


class TimeWindowError(SimError):
    """A time window is empty or reversed (``end <= start``)."""


class PropagationError(SimError):
    """SGP4 reported an error code (decayed orbit, eccentricity out of range, ...)."""

    def __init__(self, code: int, message: str, n_bad: int, first_bad_offset_s: float) -> None:
        self.code = code
        self.n_bad = n_bad
        self.first_bad_offset_s = first_bad_offset_s
        super().__init__(
            f"SGP4 error code {code} ({message}) at {n_bad} time(s), first at offset "
            f"{first_bad_offset_s:.3f} s"
        )


class LinkConfigError(SimError):
    """A link-budget configuration value is out of range or inconsistent."""


class ChannelConfigError(SimError):
    """A channel-model parameter (probability, burst length, BER) is out of range."""


class StorageError(SimError):
    """An onboard-storage operation is invalid (unknown item, duplicate key, bad size)."""
