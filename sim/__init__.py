"""Downlink simulator: orbits and passes, link budget, channel, onboard storage, scenarios."""
from __future__ import annotations

import importlib
from typing import Any

_LAZY_ATTRS = {
    "find_passes": ("sim.passes", "find_passes"),
    "GroundStation": ("sim.passes", "GroundStation"),
    "Pass": ("sim.passes", "Pass"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRS:
        mod, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
