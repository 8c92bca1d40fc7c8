"""Downlink simulator: orbits and passes, link budget, channel, onboard storage, scenarios."""
from __future__ import annotations

import importlib
from typing import Any

_LAZY_ATTRS = {
    "find_passes": ("sim.passes", "find_passes"),
    "GroundStation": ("sim.passes", "GroundStation"),
    "Pass": ("sim.passes", "Pass"),
    "OrbitElements": ("sim.orbit", "OrbitElements"),
    "look_angles": ("sim.orbit", "look_angles"),
    "LinkConfig": ("sim.link", "LinkConfig"),
    "link_budget": ("sim.link", "link_budget"),
    "GilbertElliott": ("sim.channel", "GilbertElliott"),
    "frame_losses": ("sim.channel", "frame_losses"),
    "corrupt_frame": ("sim.channel", "corrupt_frame"),
    "OnboardStorage": ("sim.storage", "OnboardStorage"),
    "StorageItem": ("sim.storage", "StorageItem"),
    "SceneRequest": ("sim.accounting", "SceneRequest"),
    "AccountingConfig": ("sim.accounting", "AccountingConfig"),
    "simulate_accounting": ("sim.accounting", "simulate_accounting"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRS:
        mod, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
