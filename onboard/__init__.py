"""Flight software: the onboard encoder runtime and everything both ends must agree on.

Importing ``onboard`` is light: no torch, no numba compilation. Heavy parts load on first use through a
module-level ``__getattr__``: ``onboard.entropy``, ``onboard.packets``, ``onboard.zoo``,
``onboard.encode_image``, ``onboard.load_package``.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY_MODULES = {"entropy", "packets", "zoo", "container", "errors", "integer_hs", "package", "encoder"}
_LAZY_ATTRS = {
    "encode_image": ("onboard.encoder", "encode_image"),
    "load_package": ("onboard.package", "load_package"),
    "ModelPackage": ("onboard.package", "ModelPackage"),
    "CodedScene": ("onboard.container", "CodedScene"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"onboard.{name}")
    if name in _LAZY_ATTRS:
        mod, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'onboard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_MODULES | set(_LAZY_ATTRS))
