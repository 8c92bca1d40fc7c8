"""The bundled sample images (package data in ``onboard/data``; provenance in its README.md).

Example:
    >>> from onboard.samples import sample_names, load_sample
    >>> "landsat7_rgb" in sample_names()
    True
    >>> load_sample("landsat7_rgb").shape
    (718, 791, 3)
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from onboard.imageio import is_readable, read_array


def _root() -> Path:
    return Path(str(resources.files("onboard") / "data"))


def sample_names() -> list[str]:
    """Names (file stems) of the bundled samples."""
    return sorted(p.stem for p in _root().iterdir() if p.is_file() and is_readable(p))


def sample_path(name: str) -> Path:
    for p in _root().iterdir():
        if p.stem == name and is_readable(p):
            return p
    raise FileNotFoundError(f"no bundled sample {name!r}; available: {', '.join(sample_names())}")


def load_sample(name: str) -> np.ndarray:
    """The bundled sample ``name`` as an array ((H, W) or (H, W, C))."""
    return read_array(sample_path(name))
