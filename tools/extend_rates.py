"""Rate points below a shipped format-2 family's lowest (or above its highest), continued from its own gains.

A variable-rate family is one network with one gain vector per lambda (Cui et al. 2021): the encoder codes
``round(g_a(x) * gain)``, the ground decodes ``y_hat / gain``, and the integer hyper-synthesis's thresholds are
``ceil(mid_j / (s_c * gain_c))`` with one scale ``s_c`` per latent channel that every rate point shares
(:func:`onboard.models.export.integer_hs_from_model`). The shipped families step their log-gains by nearly the
same amount per lambda doubling (cc-klt 0.28-0.30 mean per step, hp-rgb 0.25-0.32), so a point k steps below q0
continues that step channel by channel:

    log gain_{-k} = log gain_0 - k * (log gain_0 - log gain_2) / 2

and a point k steps above the highest, q(n-1), continues q(n-3) -> q(n-1) the same way (named q(n-1+k)).

``s_c`` is recovered from the family's own thresholds (every (rate, threshold) pair bounds it; the bounds meet
within a few 1e-7 on the shipped families) and checked to give back every source package's thresholds exactly, so
a new point's thresholds are the ones the exporter would have written for that gain, but for a rare one lying
within that precision of a boundary, one unit off (4 of 756 in the test family, at thresholds of tens of
millions). Both ends read the package's own thresholds, so this never touches bit-exactness. Only ``rate.npz`` and
the manifest are new (name ``<family>-qm<k>``, rate index ``-k``, nominal lambda continued geometrically, the
extrapolation recorded under ``rate.extrapolated``); every graph and table is the family's and the ``g_s`` that
of the end a point continues (q0's under it, the highest point's over it: a family's decoder groups may differ),
so the points decode with that ground decoder and a later ``finetune-decoder`` run takes them like any other
rate of that group (list them in ``--packages``). The distortion weights of the RD quantiser are measured for the
new gain.

These points are untrained extrapolations: measure them (``satcomp rd``) before shipping. On the cc-klt family
they continue its curve below q0 (0.006 -> 0.004 bpppb on the development cubes); on hp-rgb they did not help.
Above the top they measure the family's ceiling rather than extend it: cc-klt q8-q10 on Jasper Ridge (3 KLT
components) add 20 % rate per point for 0.09, 0.07, 0.02 dB (39.56 dB at q7); the network's own error, not the
quantiser, is what stops it there.

Example:
    python -m tools.extend_rates --packages cc-klt-q0 cc-klt-q1 cc-klt-q2 --below 2 --out /tmp/zoo_low
"""
from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import sys
from pathlib import Path

import numpy as np

from onboard.errors import SatcompError


class ExtrapolationError(SatcompError, ValueError):
    """The packages cannot be extended: not one format-2 family, too few rate points, or thresholds that no
    per-channel scale explains."""


def _mids(package) -> np.ndarray:
    scales = np.asarray(package.manifest["scale_table"], np.float64)
    return np.sqrt(scales[:-1] * scales[1:])


def threshold_scale(packages) -> np.ndarray:
    """The per-channel scale ``s_c`` (float64, (M,)) behind the thresholds of the rate points ``packages``
    (loaded, one family): ``thresholds = ceil(mid_j / (s_c * gain_c))``. Raises :class:`ExtrapolationError` if
    no scale gives back every package's thresholds exactly."""
    mids = _mids(packages[0])
    lo = np.zeros(packages[0].latent_channels)
    hi = np.full(packages[0].latent_channels, np.inf)
    for p in packages:
        g = p.gain.astype(np.float64)[:, None]
        t = p.hyper_synthesis.thresholds.astype(np.float64)
        if t.shape != (g.shape[0], mids.size) or np.any(t < 1):
            raise ExtrapolationError(f"package {p.name}: thresholds of shape {t.shape} with values >= 1 expected")
        lo = np.maximum(lo, (mids[None] / (t * g)).max(axis=1))
        hi = np.minimum(hi, np.where(t > 1, mids[None] / (np.maximum(t - 1, 1) * g), np.inf).min(axis=1))
    if not np.all(np.isfinite(hi)) or np.any(lo > hi):
        raise ExtrapolationError("no per-channel scale explains these packages' thresholds: not one family "
                                 "exported by satcomp export?")
    s = np.sqrt(lo * hi)
    for p in packages:
        if not np.array_equal(thresholds_for(s, p.gain, mids), p.hyper_synthesis.thresholds):
            raise ExtrapolationError(f"the recovered scales do not give back {p.name}'s thresholds exactly")
    return s


def thresholds_for(scale: np.ndarray, gain: np.ndarray, mids: np.ndarray) -> np.ndarray:
    """int64 (M, len(mids)) thresholds of a rate point with ``gain`` on the family scales ``scale``.

    >>> thresholds_for(np.array([0.5]), np.array([2.0]), np.array([1.5, 3.0])).tolist()
    [[2, 3]]
    """
    k = np.asarray(scale, np.float64) * np.asarray(gain, np.float64)
    return np.ceil(np.asarray(mids, np.float64)[None, :] / k[:, None]).astype(np.int64)


def extrapolated_gain(gain_near: np.ndarray, gain_far: np.ndarray, steps: int) -> np.ndarray:
    """float32 gain ``steps`` rate steps beyond the family's end point ``gain_near``, away from ``gain_far`` (the
    point two steps inside it), continuing their mean per-channel log step: under q0 with (q0, q2), over the
    highest q(n-1) with (q(n-1), q(n-3)).

    >>> extrapolated_gain(np.array([4.0]), np.array([16.0]), 1).tolist()
    [2.0]
    """
    g0 = np.asarray(gain_near, np.float64)
    step = (np.log(np.asarray(gain_far, np.float64)) - np.log(g0)) / 2.0
    return np.exp(np.log(g0) - steps * step).astype(np.float32)


def _point_plan(by_index: dict, below: int, above: int) -> list[tuple[str, int, np.ndarray, float, dict, str]]:
    """(name suffix, rate index, gain, nominal lambda, sources, method) of every new point: ``below`` under the
    lowest (continuing q0 -> q2) and ``above`` over the highest, q(n-1) (continuing q(n-3) -> q(n-1))."""
    ends = []  # (end point's index, direction away from the family, how many points)
    if below:
        if not {0, 2} <= set(by_index):
            raise ExtrapolationError(f"need the family's rate points 0 and 2 (q0, q2), got indexes {sorted(by_index)}")
        ends.append((0, -1, below))
    if above:
        top = max(by_index)
        if not {top - 2, top} <= set(by_index) or top < 2:
            raise ExtrapolationError(f"need the family's two rate points under its highest, got indexes "
                                     f"{sorted(by_index)}")
        ends.append((top, 1, above))
    plan = []
    for end, direction, count in ends:
        near, far = by_index[end], by_index[end - 2 * direction]
        lam_near, lam_far = float(near.manifest["rate"]["lambda"]), float(far.manifest["rate"]["lambda"])
        lo, hi = sorted((end, end - 2 * direction))
        for k in range(1, count + 1):
            index = end + direction * k
            plan.append((f"qm{-index}" if index < 0 else f"q{index}", index, extrapolated_gain(near.gain, far.gain, k),
                         lam_near * (lam_near / lam_far) ** (k / 2.0),
                         {near.name: near.package_id, far.name: far.package_id},
                         f"log gain = log gain(q{end}) {'-' if direction < 0 else '+'} {k} x mean per-channel log "
                         f"step of q{lo} -> q{hi}"))
    return plan


def extend_family(packages: list[str], below: int, out_root: str | Path, overwrite: bool = False,
                  distortion_weights: bool = True, above: int = 0) -> list[Path]:
    """Write ``below`` new rate points under the lowest of ``packages`` (zoo names or folders of one format-2
    family, with its rate points q0 and q2) into ``out_root/<family>-qm<k>``, k = 1..below, and ``above`` new
    points over its highest q(n-1) (with q(n-3) among ``packages``) into ``out_root/<family>-q<n-1+k>``, with the
    family's shared files in ``out_root/_shared``. Returns the new package paths (each loaded back and
    verified)."""
    from onboard.models.distortion import add_distortion_weights
    from onboard.package import (
        RATE_FILE, SHARED_DIR, load_package, read_manifest, resolve_file, rewrite_manifest, shared_name,
    )
    from onboard.zoo import family_of, resolve
    from tools.finetune_decoder import FamilyMismatchError, check_family

    if below < 0 or above < 0 or below + above < 1:
        raise ValueError(f"below and above must be >= 0 and one of them >= 1, got {below} and {above}")
    pkgs = [resolve(p) for p in packages]
    try:
        check_family(pkgs, same_decoder=False)
    except FamilyMismatchError as exc:
        raise ExtrapolationError(str(exc)) from None
    by_index = {int(p.manifest["rate"]["index"]): p for p in pkgs}
    plan = _point_plan(by_index, below, above)
    base = by_index[min(by_index)]
    family = family_of(base.name)
    scale = threshold_scale(pkgs)
    mids = _mids(base)
    out_root = Path(out_root)
    names = [f"{family}-{point[0]}" for point in plan]
    for name in names:
        if (out_root / name).exists() and not overwrite:
            raise FileExistsError(f"{out_root / name} exists (use overwrite=True)")
    store = out_root / SHARED_DIR
    store.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (_, index, gain, lam, sources, method) in zip(names, plan):
        # a point takes the ground decoder of the end it continues (a family's decoder groups are fine-tuned
        # on ranges of rate points: q0's group serves the points under it, the highest point's those over it)
        end = by_index[0] if index < 0 else by_index[max(by_index)]
        for file_name, digest in end.manifest["files"].items():  # its shared files, where out_root lacks them
            if file_name != RATE_FILE and not (end.path / file_name).is_file():
                dst = store / shared_name(file_name, digest)
                if not dst.is_file():
                    shutil.copyfile(resolve_file(end.path, file_name, digest), dst)
        thresholds = thresholds_for(scale, gain, mids)
        dest = out_root / name
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, gain=gain, thresholds=thresholds)
        (dest / RATE_FILE).write_bytes(buf.getvalue())
        manifest = read_manifest(end.path)
        manifest.pop("encoder", None)  # the source's distortion weights: measured again below for this gain
        manifest["name"] = name
        manifest["files"] = dict(manifest["files"], **{RATE_FILE: hashlib.sha256(buf.getvalue()).hexdigest()})
        manifest["rate"] = dict(manifest["rate"], index=index, **{"lambda": lam})
        manifest["rate"]["extrapolated"] = {
            "method": f"{method}; thresholds from the family's per-channel scales (tools.extend_rates); "
                      f"lambda nominal",
            "from": sources,
        }
        rewrite_manifest(dest, manifest)
        if distortion_weights:
            add_distortion_weights(dest)
        load_package(dest)
        paths.append(dest)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.extend_rates", description=__doc__.split("\n\n")[0])
    ap.add_argument("--packages", nargs="+", required=True,
                    help="rate points of one format-2 family, q0 and q2 among them (zoo names or folders)")
    ap.add_argument("--below", type=int, default=None,
                    help="how many rate points under q0 (default 2, or 0 when --above is given)")
    ap.add_argument("--above", type=int, default=0,
                    help="how many rate points over the highest (default 0; named on from it: q8, q9, ...)")
    ap.add_argument("--out", required=True, help="folder for the new packages (and the family's _shared files)")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    try:
        below = args.below if args.below is not None else (0 if args.above else 2)
        paths = extend_family(args.packages, below, args.out, overwrite=args.overwrite, above=args.above)
    except (SatcompError, OSError, ValueError) as exc:  # ExtrapolationError, a package not found, an existing folder
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
