"""Payload computer profiles (TOML) and the loader/profiler that reads them.

Light to import: the names below load their modules on first use (module-level ``__getattr__``).

* ``load_profile(name_or_path)``, ``available_profiles()``, ``load_all()`` -- :mod:`hw_profiles.loader`
* ``HardwareProfile``, ``PowerMode``, ``Accelerator``, ``ProfileError`` -- :mod:`hw_profiles.schema`
* ``analyze_onnx(model, input_shape)``, ``GraphCost``, ``LayerCost`` -- :mod:`hw_profiles.onnx_cost`
* ``profile_package(dir, profiles)``, ``profile_models(...)``, ``measure_latency(...)``, ``roofline(...)``,
  ``ProfileReport`` -- :mod:`hw_profiles.profiler`
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY_ATTRS = {
    "load_profile": "hw_profiles.loader",
    "available_profiles": "hw_profiles.loader",
    "load_all": "hw_profiles.loader",
    "HardwareProfile": "hw_profiles.schema",
    "PowerMode": "hw_profiles.schema",
    "Accelerator": "hw_profiles.schema",
    "ProfileError": "hw_profiles.schema",
    "analyze_onnx": "hw_profiles.onnx_cost",
    "GraphCost": "hw_profiles.onnx_cost",
    "LayerCost": "hw_profiles.onnx_cost",
    "profile_package": "hw_profiles.profiler",
    "profile_models": "hw_profiles.profiler",
    "measure_latency": "hw_profiles.profiler",
    "roofline": "hw_profiles.profiler",
    "ProfileReport": "hw_profiles.profiler",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(_LAZY_ATTRS[name]), name)
    raise AttributeError(f"module 'hw_profiles' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_ATTRS))
