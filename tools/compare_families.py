"""Compare package families on the same inputs: each family's BD-rate against one JPEG 2000 anchor per input,
and each family against the first (learned against learned), per input and as a mean over inputs.

What the codec record's family comparisons (an encoder trained another way, a decoder run, as-trained
exports of two checkpoints) are measured with. A family is a zoo prefix (``hp-rgb``), a folder holding
package folders (``runs/rgb_lc/pkgs``: every package in it, in :func:`onboard.zoo.available`'s order), or a
comma-separated list of zoo names and package folders. Inputs are read as :func:`tools.transfer_sweep.load_input` reads them (an
``.npz`` becomes its true-colour composite, ``FILE.npz:K`` scene K of a stack); ``SPEC@B4+B3+B2`` names the
bands of that input (inputs of a set need not share band names).

Example (the shipped family against an as-trained export; BD-rates in per cent)::

    python -m tools.compare_families --family hp-rgb --family runs/rgb_lc/pkgs --json out.json \\
        ../shared/data/multispectral/sentinel2_l2a_29RKH_20200219_10band.npz@B04+B03+B02 \\
        ../shared/data/rgb/landsat7_rasterio_RGB_byte.png
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from tools.baselines import bd_rate
from tools.rd import anchor_and_curves, resolve_packages
from tools.transfer_sweep import load_input


def family_packages(spec: str) -> list:
    """The packages of one ``--family`` (see the module docstring), lowest rate first."""
    from onboard.package import MANIFEST, read_manifest
    from onboard.zoo import listing_key

    p = Path(spec)
    if p.is_dir() and not (p / MANIFEST).exists():
        dirs = sorted((d for d in p.iterdir() if (d / MANIFEST).is_file()),
                      key=lambda d: listing_key(read_manifest(d)))
        if not dirs:
            raise ValueError(f"{spec}: no package folders in it")
        return resolve_packages([str(d) for d in dirs])
    return resolve_packages(spec.split(","))


def split_spec(spec: str) -> tuple[str, list[str] | None]:
    """``FILE[@B+B+B]`` -> (FILE, bands or None).

    >>> split_spec("s2.npz@B04+B03+B02"), split_spec("l7.png")
    (('s2.npz', ['B04', 'B03', 'B02']), ('l7.png', None))
    """
    path, sep, bands = spec.partition("@")
    return path, (bands.split("+") if sep else None)


def compare(img: np.ndarray, families: list[list], precision: str = "int8") -> dict:
    """BD-rates (%) on one image: ``{"vs_jpeg2000": [per family], "vs_first": [per family after the first]}``
    (NaN where the curves do not overlap)."""
    anchor, curves = anchor_and_curves(img, [(fam, {}) for fam in families], precision)
    return {"vs_jpeg2000": [bd_rate(*anchor, *c) for c in curves],
            "vs_first": [bd_rate(*curves[0], *c) for c in curves[1:]]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.compare_families", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="images or .npz files (FILE.npz:K, FILE@B4+B3+B2)")
    p.add_argument("--family", action="append", required=True,
                   help="zoo prefix, folder of package folders, or comma-separated packages; repeat (2 or more)")
    p.add_argument("--precision", choices=("int8", "fp32"), default="int8")
    p.add_argument("--json", default=None, help="write the per-input figures here")
    args = p.parse_args(argv)
    if len(args.family) < 2:
        p.error("give at least two --family")
    families = [family_packages(f) for f in args.family]
    rows = []
    for spec in args.inputs:
        path, bands = split_spec(spec)
        r = compare(load_input(path, bands), families, args.precision)
        rows.append({"input": spec, **r})
        print(f"{Path(path).name[:40]:40s} " + " ".join(f"{v:+7.2f}" for v in r["vs_jpeg2000"])
              + "  | vs first: " + " ".join(f"{v:+6.2f}" for v in r["vs_first"]), flush=True)
    with warnings.catch_warnings():  # a family with no BD-rate on any input has a NaN mean, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_j = np.nanmean([r["vs_jpeg2000"] for r in rows], axis=0)
        mean_f = np.nanmean([r["vs_first"] for r in rows], axis=0)
    print(f"{'mean over ' + str(len(rows)) + ' inputs':40s} " + " ".join(f"{v:+7.2f}" for v in mean_j)
          + "  | vs first: " + " ".join(f"{v:+6.2f}" for v in mean_f))
    if args.json:  # JSON has no NaN: a BD-rate without overlap is written as null, as satcomp rd writes it
        def nulls(values):
            return [None if math.isnan(v) else float(v) for v in values]

        Path(args.json).write_text(json.dumps({
            "families": [[pkg.name for pkg in f] for f in families], "family_args": args.family,
            "precision": args.precision,
            "per_input": [{"input": r["input"], "vs_jpeg2000": nulls(r["vs_jpeg2000"]),
                           "vs_first": nulls(r["vs_first"])} for r in rows],
            "mean_vs_jpeg2000": nulls(mean_j), "mean_vs_first": nulls(mean_f)}, indent=1, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
