"""Typed errors shared by the onboard and ground sides.

Every error carries the numbers that explain it (offsets, sizes, expected vs found), not just words.
"""
from __future__ import annotations


class SatcompError(Exception):
    """Base class of every error this project raises on purpose."""


class CorruptStreamError(SatcompError, ValueError):
    """A coded stream (rANS, container, packet) is malformed, truncated or fails its check."""


class PackageMismatchError(SatcompError, ValueError):
    """A coded scene or chunk names a model package other than the one supplied."""


class UnsupportedInputError(SatcompError, ValueError):
    """An input array has a shape, dtype or band count the package cannot take."""


class UncorrectableError(SatcompError, ValueError):
    """A Reed-Solomon codeword has more errors than the code can correct."""


class MissingDependencyError(SatcompError, ImportError):
    """An optional package (torch, skyfield, a CUDA provider...) is needed but not installed."""


class ProviderUnavailableError(SatcompError, RuntimeError):
    """The requested ONNX Runtime execution provider (e.g. CUDA) is not available on this machine."""


class SceneHeaderLostError(SatcompError, LookupError):
    """Every copy of a scene's header was lost on the link: its chunks cannot be placed or decoded."""
