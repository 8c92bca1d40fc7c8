"""Sweep the rule that chooses how many KLT components the encoder codes: BD-rate of a KLT package family
against KLT + JPEG 2000 per cube and setting (the measurement behind :data:`onboard.encoder.KLT_WATER_LEVEL_FACTOR`
and :data:`onboard.encoder.KLT_CODEC_FLOOR_STD`).

A setting ``FACTOR:FLOOR`` keeps a component whose standard deviation reaches ``FACTOR`` times the package's
water level and ``FLOOR`` of the common scale (:func:`onboard.encoder.klt_min_std`); the cube is then coded
exactly as the encoder codes it with that many components (``klt_components=K``), so only K differs. The anchor
is measured once per cube at fixed targets (``--anchor-points`` rates from ``--anchor-range``, geometric),
whatever the learned rates, so settings are compared on the same anchor curve. ``--against-first`` compares
each setting's learned curve with the first setting's instead (no anchor): the figure to choose a rule by, since
against the anchor a rule whose top points reach higher quality also moves the compared interval up, where the
learned codec is further behind (see :func:`sweep`).

Example (two settings on two train-marked cubes)::

    python -m tools.klt_sweep --package cc-klt --setting 0.35:0.006 --setting 0.7:0.015 \\
        ../shared/data/hsi/reno.npz ../shared/data/hsi/samson.npz
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from tools.baselines import bd_rate, klt_jpeg2000


def parse_setting(text: str) -> tuple[float, float]:
    """``"0.7:0.015"`` -> ``(0.7, 0.015)``; ValueError unless both are positive and finite.

    >>> parse_setting("0.7:0.015")
    (0.7, 0.015)
    """
    factor, sep, floor = text.partition(":")
    try:
        pair = (float(factor), float(floor))
    except ValueError:
        raise ValueError(f"a setting is FACTOR:FLOOR, got {text!r}") from None
    if not sep or not all(math.isfinite(v) and v > 0 for v in pair):
        raise ValueError(f"a setting is FACTOR:FLOOR with both positive, got {text!r}")
    return pair


def components_for(cube: np.ndarray, package, factor: float, floor: float) -> int:
    """How many components the encoder's rule keeps for ``cube`` with ``package`` at ``factor`` and ``floor``
    (:func:`onboard.spectral.fit_klt` sets K before it prices the table, so no pricing is needed here)."""
    from onboard.encoder import klt_min_std
    from onboard.spectral import fit_klt

    return fit_klt(cube, min_std=klt_min_std(package, factor=factor, floor=floor)).n_components


def anchor_curve(cube: np.ndarray, targets: np.ndarray) -> list[tuple[float, float]]:
    """KLT + JPEG 2000 (rate in bpppb, PSNR in dB at the declared bit depth) at each reachable target."""
    from ground.metrics import psnr_db
    from onboard.encoder import bit_depth_of

    bit_depth = bit_depth_of(cube)
    points = []
    for t in targets:
        try:
            n, rec = klt_jpeg2000(cube, float(t))
        except ValueError:
            continue  # below the transform's side information
        points.append((8.0 * n / cube.size, psnr_db(cube, rec, bit_depth)))
    return points


def learned_curve(cube: np.ndarray, packages, factor: float, floor: float, precision: str = "int8",
                  cache: dict | None = None) -> list[tuple[float, float, int]]:
    """(rate bpppb, PSNR dB, K) of every package with the components that ``factor``/``floor`` keep.
    ``cache``: (package index, K) -> (rate, PSNR) of ``cube``, shared across settings (settings that keep the
    same K code the same scene, so it is coded once)."""
    import ground
    import onboard
    from ground.metrics import psnr_db
    from onboard.encoder import bit_depth_of

    cache = {} if cache is None else cache
    bit_depth = bit_depth_of(cube)
    out = []
    for i, pkg in enumerate(packages):
        k = components_for(cube, pkg, factor, floor)
        if (i, k) not in cache:
            coded = onboard.encode_image(cube, pkg, precision=precision, klt_components=k)
            rec = ground.decode_image(coded.to_bytes(), pkg)
            cache[(i, k)] = (8.0 * coded.nbytes / cube.size, psnr_db(cube, rec, bit_depth))
        out.append((*cache[(i, k)], k))
    return out


def sweep(cube: np.ndarray, packages, settings: list[tuple[float, float]], targets: np.ndarray,
          precision: str = "int8", against_first: bool = False) -> dict[tuple[float, float], float]:
    """BD-rate (%) of the learned curve against KLT + JPEG 2000 for each setting (NaN without overlap, or with
    fewer than 4 anchor points, when the learned curves are not coded at all).

    ``against_first``: instead, each setting's learned curve against the first setting's (no anchor is coded;
    ``targets`` is not used). Against the anchor, a setting whose top points reach higher quality also moves
    the compared interval up, where the learned codec is further behind, so a curve that is better at every
    rate can score worse; two learned curves compared with each other do not have that bias."""
    if not against_first:
        anchor = np.array(anchor_curve(cube, targets))
        if len(anchor) < 4:
            return {s: math.nan for s in settings}
    cache: dict = {}
    curves = [np.array(learned_curve(cube, packages, *s, precision=precision, cache=cache)) for s in settings]
    ref = curves[0] if against_first else anchor
    return {s: bd_rate(ref[:, 0], ref[:, 1], c[:, 0], c[:, 1]) for s, c in zip(settings, curves)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--package", action="append", required=True,
                   help="a KLT package or family prefix (cc-klt); repeat for each rate point")
    p.add_argument("--setting", action="append", required=True, metavar="FACTOR:FLOOR",
                   help="water-level factor and floor of one setting; repeat for each")
    p.add_argument("--precision", default="int8", choices=("int8", "fp32"))
    p.add_argument("--anchor-points", type=int, default=14)
    p.add_argument("--anchor-range", type=float, nargs=2, default=(0.004, 0.12), metavar=("LO", "HI"),
                   help="bpppb of the lowest and highest anchor target")
    p.add_argument("--against-first", action="store_true",
                   help="BD-rate of each setting's learned curve against the first setting's, no anchor")
    p.add_argument("cubes", nargs="+", help=".npz (key data) / .npy / multi-band TIFF cubes")
    args = p.parse_args(argv)
    try:
        settings = [parse_setting(t) for t in args.setting]
    except ValueError as exc:
        p.error(str(exc))

    from onboard.errors import UnsupportedInputError
    from onboard.imageio import read_array
    from tools.rd import resolve_packages

    packages = resolve_packages(args.package)
    if any(pkg.architecture.get("spectral") != "klt" for pkg in packages):
        p.error("every package must be a spectral KLT package (architecture spectral = klt)")
    targets = np.geomspace(args.anchor_range[0], args.anchor_range[1], args.anchor_points)
    table = {s: [] for s in settings}
    failed = 0
    for path in args.cubes:
        try:
            cube = read_array(path)
            if cube.ndim != 3:
                raise UnsupportedInputError(f"an (H, W, C) cube is needed, got shape {cube.shape}")
            res = sweep(cube, packages, settings, targets, args.precision, against_first=args.against_first)
        except (OSError, ValueError) as exc:  # UnsupportedInputError and CorruptStreamError are ValueErrors
            print(f"{path}: skipped ({exc})", file=sys.stderr)
            failed += 1
            continue
        for s, v in res.items():
            table[s].append(v)
        print(path, "  ".join(f"{s[0]:g}:{s[1]:g} {v:+.2f} %" for s, v in res.items()), flush=True)
    for s, vals in table.items():
        v = np.array(vals)
        ok = np.isfinite(v)
        mean = f"{float(np.mean(v[ok])):+.2f} %" if ok.any() else "not computable"
        print(f"{s[0]:g}:{s[1]:g}  mean per cube {mean} over {int(ok.sum())} of {len(v)} cubes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
