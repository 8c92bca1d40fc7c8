"""Ground segment: recovery of frames and packets, parallel bit-exact decoding, HDF5 products."""
from __future__ import annotations

import importlib
from typing import Any

_LAZY_ATTRS = {
    "decode_image": ("ground.decoder", "decode_image"),
    "decode_scene": ("ground.decoder", "decode_scene"),
    "DecodedScene": ("ground.decoder", "DecodedScene"),
    "recover": ("ground.recovery", "recover"),
    "Recovery": ("ground.recovery", "Recovery"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRS:
        mod, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'ground' has no attribute {name!r}")
