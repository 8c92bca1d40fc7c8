"""Sweep the encoder's transfer exponent on > 8-bit images: BD-rate of a package family against JPEG 2000 per
image and exponent (the measurement behind :data:`onboard.encoder.HIGH_BIT_DEPTH_EXPONENT`).

Each input is read as the encoder would get it: an ``.npz`` becomes its true-colour composite, red first, when
its band names say which bands are red, green and blue (:func:`onboard.models.data.true_colour_indexes`), or
the bands ``--bands`` names; ``FILE.npz:K`` takes scene K of an (N, H, W, C) stack; ``--crop N`` keeps the
centre N x N. JPEG 2000 points are measured once per input; the learned curve once per exponent.

Example (the train-marked Landsat 8 scenes, 512 x 512 centre crops)::

    python -m tools.transfer_sweep --package hp-rgb --exponents 1 0.8 0.7 --crop 512 \\
        ../shared/data/multispectral/landsat8_LC81070352015122LGN00_B2B3B4_tiny.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tools.baselines import bd_rate
from tools.rd import anchor_and_curves, resolve_packages, select_bands


def load_input(spec: str, bands: list[str] | None = None, crop: int | None = None) -> np.ndarray:
    """The (H, W, 3) image a ``FILE[.npz:K]`` spec names (see the module docstring)."""
    from onboard.errors import UnsupportedInputError
    from onboard.imageio import read_array
    from onboard.models.data import band_names, true_colour_indexes

    path, scene = spec, None
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isdigit() and head.lower().endswith(".npz"):
        path, scene = head, int(tail)
    if scene is None:
        img = read_array(path)
    else:
        with np.load(path, allow_pickle=False) as f:
            stack = f["data"]
        if stack.ndim != 4 or not 0 <= scene < stack.shape[0]:
            raise UnsupportedInputError(f"{path}: no scene {scene} in data of shape {stack.shape}")
        img = stack[scene]
    if bands:
        img = select_bands(Path(path), img, bands)
    elif img.ndim == 3:
        idx = true_colour_indexes(band_names(path))  # also puts a Landsat 8 B2 B3 B4 file red first
        if idx is not None:
            img = img[:, :, idx]
        elif img.shape[2] > 3:
            raise UnsupportedInputError(f"{path}: {img.shape[2]} bands without red, green and blue names; "
                                        f"name three with --bands")
    if crop:
        h, w = img.shape[:2]
        y0, x0 = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        img = img[y0:y0 + crop, x0:x0 + crop]
    return np.ascontiguousarray(img)


def sweep(img: np.ndarray, packages, exponents: list[float], precision: str = "int8") -> dict[float, float]:
    """Exponent -> BD-rate (%) of the learned curve against JPEG 2000 on ``img`` (1.0 is linear coding)."""
    anchor, curves = anchor_and_curves(img, [(packages, {"transfer": e}) for e in exponents], precision)
    return {e: bd_rate(*anchor, *c) for e, c in zip(exponents, curves)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.transfer_sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="images or .npz files (FILE.npz:K for scene K of a stack)")
    p.add_argument("--package", action="append", required=True, help="zoo name, folder or family prefix")
    p.add_argument("--exponents", type=float, nargs="+", default=[1.0, 0.8, 0.7, 0.6, 0.5])
    p.add_argument("--bands", nargs="+", default=None, help="three band names or indexes instead of true colour")
    p.add_argument("--crop", type=int, default=None, help="centre crop of N x N pixels")
    p.add_argument("--precision", choices=("int8", "fp32"), default="int8")
    args = p.parse_args(argv)
    packages = resolve_packages(args.package)
    rows = {}
    for spec in args.inputs:
        rows[spec] = sweep(load_input(spec, args.bands, args.crop), packages, args.exponents, args.precision)
        print(f"{Path(spec).name:48s} " + " ".join(f"{e:g}:{v:+7.2f}" for e, v in rows[spec].items()), flush=True)
    print("mean BD-rate vs JPEG 2000 (%): " + " ".join(
        f"{e:g}:{np.mean([r[e] for r in rows.values()]):+.2f}" for e in args.exponents))
    return 0


if __name__ == "__main__":
    sys.exit(main())
