"""Read images and cubes into (H, W, C) or (H, W) integer arrays (Pillow, numpy, tifffile when installed).

Formats: PNG/TIFF/BMP/JPEG through Pillow, ``.npy``, ``.npz`` (key ``data``), multi-band GeoTIFF through
``tifffile`` (if installed). Errors are typed: :class:`UnsupportedInputError` names the file and the problem.

Example:
    >>> from onboard.imageio import read_array
    >>> read_array("scene.npz").shape                       # doctest: +SKIP
    (100, 100, 198)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from onboard.errors import MissingDependencyError, UnsupportedInputError

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm"}
ARRAY_SUFFIXES = {".npy", ".npz"}


def read_array(path: str | Path, keep_2d: bool = True) -> np.ndarray:
    """Read ``path``; 2-D images stay 2-D unless ``keep_2d=False`` (then (H, W, 1))."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        arr = np.load(p, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(p, allow_pickle=False) as f:
            if "data" not in f:
                raise UnsupportedInputError(f"{p}: .npz has no 'data' key (keys: {sorted(f.keys())})")
            arr = f["data"]
    elif suffix in (".tif", ".tiff"):
        arr = _read_tiff(p)
    elif suffix in IMAGE_SUFFIXES:
        from PIL import Image

        with Image.open(p) as im:
            arr = np.array(im)
    else:
        raise UnsupportedInputError(f"{p}: unknown file type {suffix!r} (images: {sorted(IMAGE_SUFFIXES)}, "
                                    f"arrays: .npy, .npz with key 'data')")
    if arr.ndim not in (2, 3):
        raise UnsupportedInputError(f"{p}: expected (H, W) or (H, W, C), got shape {arr.shape}")
    if arr.ndim == 2 and not keep_2d:
        arr = arr[:, :, None]
    return arr


def _read_tiff(p: Path) -> np.ndarray:
    try:
        import tifffile
    except ImportError:
        tifffile = None
    if tifffile is not None:
        arr = tifffile.imread(p)
        if arr.ndim == 3 and arr.shape[0] < min(arr.shape[1:]) and arr.shape[0] <= 512:
            arr = np.moveaxis(arr, 0, -1)  # band-first GeoTIFF -> channels last
        return arr
    from PIL import Image

    try:
        with Image.open(p) as im:
            if getattr(im, "n_frames", 1) > 1:
                raise MissingDependencyError(f"{p}: multi-page TIFF needs the 'tifffile' package")
            return np.array(im)
    except OSError as exc:
        raise MissingDependencyError(f"{p}: Pillow cannot read this TIFF ({exc}); install 'tifffile' for "
                                     "multi-band GeoTIFF") from exc


def is_readable(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES | ARRAY_SUFFIXES
