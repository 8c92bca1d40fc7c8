"""Training data: random crops from image files, folders or the shared data manifest (training only).

Images are normalised per band to [0, 1] with the band's own (min, max), exactly as the onboard encoder
normalises a scene, so the network sees the same value distribution in training and in flight.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from onboard.imageio import read_array

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".bmp"}


def load_array(path: str | Path) -> np.ndarray:
    """Read an image or cube as (H, W, C) (see :func:`onboard.imageio.read_array`)."""
    return read_array(path, keep_2d=False)


def normalise_bands(arr: np.ndarray) -> np.ndarray:
    """(H, W, C) integer array -> float32 in [0, 1] per band by the band's (min, max)."""
    a = arr.astype(np.float32)
    lo = a.reshape(-1, a.shape[-1]).min(axis=0)
    hi = a.reshape(-1, a.shape[-1]).max(axis=0)
    return (a - lo) / np.maximum(hi - lo, 1.0)


def manifest_files(data_root: str | Path, purpose: str = "train", bands: int | None = 3) -> list[Path]:
    """Files of ``data_root/manifest.json`` whose purpose starts with ``purpose`` and band count matches."""
    root = Path(data_root)
    entries = json.loads((root / "manifest.json").read_text())["files"]
    out = []
    for e in entries:
        if not str(e.get("purpose", "")).startswith(purpose):
            continue
        shape = e["shape"]
        if len(shape) not in (2, 3):
            continue  # e.g. (N, H, W, C) scene stacks
        n_bands = shape[-1] if len(shape) == 3 else 1
        if bands is not None and n_bands != bands:
            continue
        out.append(root / e["file"])
    return sorted(out)


def collect_files(source: str | Path, bands: int = 3, purpose: str = "train") -> list[Path]:
    """A folder with ``manifest.json`` (its ``purpose`` files), any other folder (all images), or a file."""
    p = Path(source)
    if p.is_file():
        return [p]
    if (p / "manifest.json").exists():
        return manifest_files(p, purpose=purpose, bands=bands)
    return sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES | {".npz", ".npy"})


class CropSampler:
    """Random crops with flips and 90-degree rotations from a set of normalised images held in memory.

    ``sample(batch, rng)`` -> float32 (batch, C, crop, crop). Images smaller than the crop are skipped;
    each crop draws its image uniformly, so small tiles and large scenes are equally likely.
    """

    def __init__(self, files: list[Path], bands: int, crop: int):
        self.crop = crop
        self.images = []
        for f in files:
            arr = load_array(f)
            if arr.shape[-1] != bands or min(arr.shape[:2]) < crop:
                continue
            self.images.append(normalise_bands(arr))
        if not self.images:
            raise ValueError(f"no usable {bands}-band image of at least {crop}x{crop} among {len(files)} files")

    def sample(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        c = self.crop
        out = np.empty((batch, self.images[0].shape[-1], c, c), dtype=np.float32)
        for b in range(batch):
            img = self.images[rng.integers(len(self.images))]
            y = rng.integers(img.shape[0] - c + 1)
            x = rng.integers(img.shape[1] - c + 1)
            crop = img[y:y + c, x:x + c]
            crop = np.rot90(crop, k=int(rng.integers(4)))
            if rng.integers(2):
                crop = crop[:, ::-1]
            out[b] = np.transpose(crop, (2, 0, 1))
        return out
