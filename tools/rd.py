"""``satcomp rd``: rate–distortion of model packages against JPEG 2000 on the same images or cubes.

For every input and every package that can take it: encode (int8 and fp32 ``g_a``), decode on the ground path,
rate on the whole container (headers included), PSNR (peak from the bit depth), MS-SSIM (images) or SAM
(cubes). Baselines in the same run: JPEG 2000 (OpenJPEG through Pillow, irreversible 9/7, colour transform on
RGB) for images; band-by-band JPEG 2000 and KLT + JPEG 2000 for cubes (``tools/baselines.py``).

Rate unit: bits per pixel (all bands) for images of up to 3 bands, bits per pixel per band (bpppb) for cubes.
Curves are averaged over the inputs at each rate point (each package is one point), and BD-rates
(Bjøntegaard, cubic fit) of the learned curve against each baseline and of int8 against fp32 are reported,
both on the averaged curves and as the mean of the per-input values. Outputs: ``rd.json``, ``rd.png``.

Example:
    satcomp rd --package hp-rgb-q0 --package hp-rgb-q1 ... ../shared/data/kodak --out out/rd
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from onboard.encoder import (
    DEFAULT_DEADZONE, DEFAULT_TILE, HIGH_BIT_DEPTH_EXPONENT, check_deadzone, check_transfer, tile_size,
)
from onboard.rd_quantise import DEFAULT_RD_WEIGHT, check_rd_weight
from tools.baselines import bd_rate, jpeg2000_bands, jpeg2000_image, klt_jpeg2000


def _metrics(ref: np.ndarray, rec: np.ndarray, bit_depth: int, cube: bool) -> dict:
    from ground.metrics import ms_ssim, psnr_db, sam_deg

    out = {"psnr_db": psnr_db(ref, rec, bit_depth)}
    if cube:
        out["sam_deg"] = sam_deg(ref, rec)
    else:
        out["ms_ssim"] = ms_ssim(ref, rec, bit_depth)
    return out


def _is_cube(img: np.ndarray) -> bool:
    return img.ndim == 3 and img.shape[2] > 3


def evaluate_input(img: np.ndarray, packages, precisions, n_baseline: int = 8, echo=print, name: str = "",
                   spectral: str = "auto", deadzone: float = DEFAULT_DEADZONE,
                   rd_weight: float = DEFAULT_RD_WEIGHT, transfer: str | float = "auto", baselines: bool = True,
                   tile: int = DEFAULT_TILE):
    """All points for one input: ``{method: [ {rate, psnr_db, ...}, ... ]}``. ``spectral``: the encoder's
    mode for clustered packages (``auto``: each package's own); ``rd_weight`` and ``deadzone``: the encoder's
    latent quantiser, ``transfer`` its curve for > 8-bit data, ``tile`` its tile size in pixels
    (:func:`onboard.encoder.encode_image`; the anchors code the whole input as one codestream).
    ``baselines=False``: the learned points only."""
    import ground
    import onboard
    from onboard.encoder import bit_depth_of
    from onboard.errors import UnsupportedInputError

    cube = _is_cube(img)
    arr3 = img if img.ndim == 3 else img[:, :, None]
    bands = arr3.shape[2]
    samples = arr3.shape[0] * arr3.shape[1] * (bands if cube else 1)
    bit_depth = bit_depth_of(arr3)
    points: dict[str, list[dict]] = {}
    for prec in precisions:
        for pkg in packages:
            try:
                t0 = time.perf_counter()
                coded = onboard.encode_image(img, pkg, precision=prec,
                                             spectral=spectral if pkg.cluster_bands else "auto", deadzone=deadzone,
                                             rd_weight=rd_weight, transfer=transfer, tile=tile)
                t1 = time.perf_counter()
            except UnsupportedInputError as exc:
                echo(f"  {name}: {pkg.name} skipped ({exc})")
                break
            rec = ground.decode_image(coded.to_bytes(), pkg)
            t2 = time.perf_counter()
            p = {"package": pkg.name, "rate": 8.0 * coded.nbytes / samples, "encode_s": t1 - t0,
                 "coded_planes": coded.header.coded_bands,
                 "decode_s": t2 - t1, **_metrics(img, rec, bit_depth, cube)}
            points.setdefault(f"learned-{prec}", []).append(p)
    learned = points.get(f"learned-{precisions[0]}", [])
    if not learned or not baselines:
        return points, cube
    rates = [p["rate"] for p in learned]
    psnr_lo = min(p["psnr_db"] for p in learned)
    psnr_hi = max(p["psnr_db"] for p in learned)

    def run_baselines(t: float, slot: int) -> None:
        """Baseline points at target rate ``t``; ``slot`` says which relative position the target holds
        (0..n-1 the base targets, n.. the extensions upwards, -1.. downwards) so curves average slot by slot."""
        def add(method: str, n: int, rec: np.ndarray) -> None:
            points.setdefault(method, []).append({"rate": 8.0 * n / samples, "target": t, "slot": slot,
                                                  **_metrics(img, rec, bit_depth, cube)})

        if cube:
            add("jpeg2000-bands", *jpeg2000_bands(img, t))
            try:
                add("klt-jpeg2000", *klt_jpeg2000(img, t))
            except ValueError:
                pass  # the target is below the KLT's side information
        else:
            add("jpeg2000", *jpeg2000_image(img, t))

    targets = np.geomspace(min(rates) * 0.6, max(rates) * 1.5, n_baseline)
    for i, t in enumerate(targets):
        run_baselines(float(t), i)
    # BD-rate needs the curves to overlap in quality: extend the baselines (at most 6 octaves up, 3 down) until
    # every baseline spans the learned PSNR range or cannot go further (band-by-band JPEG 2000 of a KLT-coded
    # cube needs 10-20x the learned rate to reach its quality)
    baselines = [m for m in points if not m.startswith("learned")]
    hi_t, lo_t = float(targets[-1]), float(targets[0])
    for j in range(6):
        if all(max(q["psnr_db"] for q in points[m]) >= psnr_hi for m in baselines) or hi_t >= 16.0:
            break
        hi_t *= 2.0
        run_baselines(hi_t, len(targets) + j)
    for j in range(3):
        if all(min(q["psnr_db"] for q in points[m]) <= psnr_lo for m in baselines):
            break
        lo_t *= 0.5
        run_baselines(lo_t, -1 - j)
    return points, cube


def curve_of(pts: list[dict], key: str = "psnr_db") -> tuple[np.ndarray, np.ndarray]:
    """(rates, ``key`` values) of a method's points, by rate: what :func:`tools.baselines.bd_rate` takes."""
    r = np.array([p["rate"] for p in pts])
    d = np.array([p[key] for p in pts])
    o = np.argsort(r)
    return r[o], d[o]


def anchor_and_curves(img: np.ndarray, runs: list[tuple[list, dict]], precision: str = "int8"):
    """Several learned runs on one image against one JPEG 2000 anchor: ``runs`` is a list of (packages,
    :func:`evaluate_input` keyword arguments such as ``transfer``); the anchor is measured once, with the first
    run. Returns ``(anchor_curve, [learned_curve per run])``, each a :func:`curve_of` pair, ready for
    :func:`tools.baselines.bd_rate`."""
    key = f"learned-{precision}"
    curves = []
    anchor = None
    for i, (packages, kwargs) in enumerate(runs):
        points, _ = evaluate_input(img, packages, [precision], echo=lambda *a: None, baselines=i == 0, **kwargs)
        if i == 0:
            anchor = curve_of(points["jpeg2000"])
        curves.append(curve_of(points[key]))
    return anchor, curves


def summarise(per_input: list[dict], precisions) -> dict:
    """Average curves over inputs (point k of a method averaged across inputs) and BD-rates."""
    methods = sorted({m for pi in per_input for m in pi["points"]})
    avg = {}
    for m in methods:
        lists = [pi["points"][m] for pi in per_input if m in pi["points"]]
        if "slot" in lists[0][0]:
            # baselines: average the relative target positions every input has, in order
            common = set.intersection(*({q["slot"] for q in lst} for lst in lists))
            lists = [sorted((q for q in lst if q["slot"] in common), key=lambda q: q["slot"]) for lst in lists]
        n = min(len(lst) for lst in lists)
        keys = [k for k in lists[0][0] if isinstance(lists[0][0][k], (int, float))]
        avg[m] = {k: [float(np.mean([lst[i][k] for lst in lists])) for i in range(n)] for k in keys}
        avg[m]["n_inputs"] = len(lists)
        if "package" in lists[0][0]:
            avg[m]["package"] = [lists[0][i]["package"] for i in range(n)]
    learned = f"learned-{precisions[0]}"
    bd = {}
    for m in methods:
        if m.startswith("learned"):
            continue
        if learned in avg:
            bd[f"{learned} vs {m} (averaged curves, PSNR)"] = bd_rate(avg[m]["rate"], avg[m]["psnr_db"],
                                                                      avg[learned]["rate"], avg[learned]["psnr_db"])
            per = [bd_rate(*curve_of(pi["points"][m]), *curve_of(pi["points"][learned]))
                   for pi in per_input if m in pi["points"] and learned in pi["points"]]
            per = [v for v in per if not math.isnan(v)]
            bd[f"{learned} vs {m} (mean of per-input, PSNR)"] = float(np.mean(per)) if per else math.nan
            if "ms_ssim" in avg[m]:
                def msdb(v):
                    return -10 * np.log10(np.maximum(1 - np.asarray(v), 1e-12))
                bd[f"{learned} vs {m} (averaged curves, MS-SSIM dB)"] = bd_rate(
                    avg[m]["rate"], msdb(avg[m]["ms_ssim"]), avg[learned]["rate"], msdb(avg[learned]["ms_ssim"]))
    if "learned-int8" in avg and "learned-fp32" in avg:
        bd["learned-int8 vs learned-fp32 (averaged curves, PSNR)"] = bd_rate(
            avg["learned-fp32"]["rate"], avg["learned-fp32"]["psnr_db"], avg["learned-int8"]["rate"],
            avg["learned-int8"]["psnr_db"])
    return {"average": avg, "bd_rate_percent": bd}


def plot(summary: dict, out: Path, rate_unit: str, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    avg = summary["average"]
    has_ms = any("ms_ssim" in v for v in avg.values())
    fig, axes = plt.subplots(1, 2 if has_ms else 1, figsize=(11 if has_ms else 6, 4.2))
    axes = np.atleast_1d(axes)
    for m, v in sorted(avg.items()):
        style = "o-" if m.startswith("learned") else "s--"
        axes[0].plot(v["rate"], v["psnr_db"], style, label=f"{m} (n={v['n_inputs']})", ms=4)
        if has_ms and "ms_ssim" in v:
            axes[1].plot(v["rate"], -10 * np.log10(np.maximum(1 - np.array(v["ms_ssim"]), 1e-12)), style, label=m,
                         ms=4)
    rates = [r for v in avg.values() for r in v["rate"] if r > 0]
    if rates and max(rates) / min(rates) > 20:  # e.g. cubes: learned at 0.01 bpppb, band-by-band at 1
        for ax in axes:
            ax.set_xscale("log")
    axes[0].set_xlabel(rate_unit)
    axes[0].set_ylabel("PSNR (dB)")
    axes[0].grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[0].set_title(title, fontsize=9)
    if has_ms:
        axes[1].set_xlabel(rate_unit)
        axes[1].set_ylabel("MS-SSIM (dB)")
        axes[1].grid(alpha=0.3)
    fig.tight_layout()
    path = out / "rd.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def checked(check):
    """An argparse ``type`` that passes the text through ``check`` (a usage error, exit 2, for the ValueError
    of a value ``check`` refuses)."""
    def parse(text: str):
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def checked_float(check):
    """An argparse ``type`` that parses a float and passes it through ``check`` (a usage error, exit 2, for a
    value ``check`` refuses or text that is not a number)."""
    return checked(lambda text: check(float(text)))


# argparse type for --transfer (onboard.encoder.check_transfer parses the text itself)
checked_transfer = checked(check_transfer)


def check_tile(text: str) -> int:
    """``--tile`` text -> a square tile size in pixels (ValueError for text that is not one in 1..65535)."""
    return tile_size(int(text))[0]


def transfer_help(default: str) -> str:
    """The ``--transfer`` help text, with ``default`` and the encoder's exponent for > 8-bit data."""
    return (f"the encoder's transfer curve: auto (image packages code data of more than 8 bits as "
            f"t**{HIGH_BIT_DEPTH_EXPONENT:g} of the range-normalised value t), linear, or an exponent "
            f"(default {default})")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--package", action="append", required=True,
                   help="zoo name or package directory; repeat for each rate point (or give a family prefix "
                        "such as hp-rgb to take every zoo package of that family)")
    p.add_argument("inputs", nargs="+", help="images, cubes or folders")
    p.add_argument("--out", required=True)
    p.add_argument("--precision", nargs="+", default=["int8", "fp32"], choices=["int8", "fp32"])
    p.add_argument("--baseline-points", type=int, default=8)
    p.add_argument("--limit", type=int, default=None, help="use only the first N inputs")
    p.add_argument("--deadzone", type=checked_float(check_deadzone), default=DEFAULT_DEADZONE,
                   help=f"latent rounding dead zone of the encoder in [0, 0.5) (default {DEFAULT_DEADZONE}; "
                        "0 is plain rounding); used where the RD choice is off or the package has no "
                        "distortion weights")
    p.add_argument("--rd-weight", type=checked_float(check_rd_weight), default=DEFAULT_RD_WEIGHT,
                   help=f"weight of the encoder's rate-distortion choice of each latent integer (default "
                        f"{DEFAULT_RD_WEIGHT:g}; 0 turns it off)")
    p.add_argument("--transfer", type=checked_transfer, default="auto", help=transfer_help("auto"))
    p.add_argument("--tile", type=checked(check_tile), default=DEFAULT_TILE,
                   help=f"encoder tile size in pixels (default {DEFAULT_TILE}; each tile and band group is one "
                        "chunk, what a lost packet costs at most; larger tiles spend less on tile edges and "
                        "side information)")
    p.add_argument("--bands", nargs="+", default=None, metavar="BAND",
                   help="code only these bands of every input, in this order: 0-based indexes, or the band "
                        "names an .npz input lists (e.g. B04 B03 B02 for a Sentinel-2 true-colour composite)")
    p.add_argument("--spectral", choices=("auto", "none", "klt"), default="auto",
                   help="clustered packages: code bands (none), spectral KLT components (klt) or what each "
                        "package was trained for (auto)")


def select_bands(path: str | Path, img: np.ndarray, bands: list[str]) -> np.ndarray:
    """The bands of an (H, W, C) input named by ``bands``, in that order: 0-based indexes, or names from the
    ``bands`` array an ``.npz`` input carries (``B04 B03 B02``: a Sentinel-2 true-colour composite).

    An index out of range, a name the file does not list, or names for an input without band names is an
    :class:`~onboard.errors.UnsupportedInputError` that says which.

    >>> select_bands("x.npy", np.arange(24).reshape(2, 2, 6), ["5", "0"])[0, 0].tolist()
    [5, 0]
    """
    from onboard.errors import UnsupportedInputError
    from onboard.models.data import band_names

    path = Path(path)
    if img.ndim != 3:
        raise UnsupportedInputError(f"{path.name}: --bands needs a multi-band input, got shape {img.shape}")
    if all(b.lstrip("-").isdigit() for b in bands):
        idx = [int(b) for b in bands]
        bad = [i for i in idx if not 0 <= i < img.shape[2]]
        if bad:
            raise UnsupportedInputError(f"{path.name}: band index {bad[0]} outside 0..{img.shape[2] - 1}")
    else:
        names = band_names(path)
        if not names:
            raise UnsupportedInputError(f"{path.name}: no band names to select {bands} by (give 0-based indexes)")
        missing = [b for b in bands if b not in names]
        if missing:
            raise UnsupportedInputError(f"{path.name}: no band named {missing[0]!r}; it has {', '.join(names)}")
        idx = [names.index(b) for b in bands]
    return np.ascontiguousarray(img[:, :, idx])


def resolve_packages(names: list[str]):
    import onboard
    from onboard.zoo import resolve

    out = []
    for n in names:
        fam = [a for a in onboard.zoo.available() if onboard.zoo.family_of(a) == n]
        out.extend(resolve(a) for a in fam) if fam else out.append(resolve(n))
    return out


def run(args: argparse.Namespace) -> int:
    from onboard.imageio import read_array
    from tools.verify import expand_inputs

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    packages = resolve_packages(args.package)
    files = expand_inputs(args.inputs)[: args.limit]
    per_input = []
    cube_mode = None
    for f in files:
        img = read_array(f)
        if args.bands:
            img = select_bands(f, img, args.bands)
        t = time.perf_counter()
        points, cube = evaluate_input(img, packages, args.precision, args.baseline_points, name=f.name,
                                      spectral=args.spectral, deadzone=args.deadzone,
                                      rd_weight=args.rd_weight, transfer=args.transfer, tile=args.tile)
        if not points:
            continue
        if cube_mode is None:
            cube_mode = cube
        elif cube_mode != cube:
            print(f"{f.name}: skipped (mixing images and cubes in one RD run)")
            continue
        per_input.append({"file": str(f), "shape": list(img.shape), "dtype": str(img.dtype), "points": points})
        best = points.get(f"learned-{args.precision[0]}", [])
        print(f"{f.name}: {len(best)} learned points, {time.perf_counter() - t:.1f} s")
    if not per_input:
        print("rd: no input could be coded by the given packages")
        return 1
    summary = summarise(per_input, args.precision)
    unit = "bits per pixel per band" if cube_mode else "bits per pixel"
    doc = {"rate_unit": unit, "packages": [p.name for p in packages], "inputs": [pi["file"] for pi in per_input],
           "bands": args.bands, "deadzone": args.deadzone, "rd_weight": args.rd_weight,
           "transfer": args.transfer, "tile": args.tile,
           "rd_quantiser": {p.name: p.distortion_per_step is not None for p in packages},
           **summary, "per_input": per_input}
    # JSON has no NaN: a BD-rate that cannot be computed (no PSNR overlap) is written as null
    doc["bd_rate_percent"] = {k: (None if math.isnan(v) else v) for k, v in doc["bd_rate_percent"].items()}
    (out / "rd.json").write_text(json.dumps(doc, indent=1))
    plot(summary, out, unit, f"{len(per_input)} inputs; " + ", ".join(
        f"BD {k.split(' (')[0].split(' vs ')[1]} {v:+.1f}%" for k, v in summary["bd_rate_percent"].items()
        if "averaged curves, PSNR" in k and not math.isnan(v)))
    print(f"\n{'method':<20}" + "".join(f"{'pt' + str(i):>18}" for i in range(5)))
    for m, v in sorted(summary["average"].items()):
        print(f"{m:<20}" + "".join(f"{r:8.3f} {p:6.2f}dB " for r, p in zip(v["rate"], v["psnr_db"])))
    print()
    for k, v in summary["bd_rate_percent"].items():
        if math.isnan(v):
            print(f"BD-rate {k}: not computable, the curves do not overlap in PSNR (see the table)")
        else:
            print(f"BD-rate {k}: {v:+.2f} %")
    print(f"wrote {out / 'rd.json'} and {out / 'rd.png'}")
    return 0
