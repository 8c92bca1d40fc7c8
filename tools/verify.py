"""``satcomp verify``: prove that the ground decodes exactly what each onboard encoder variant coded.

For every image and every available variant (int8 ORT, fp32 ORT, torch reference when torch is installed):
index maps identical (must be 100 %), integer ONNX h_s equal to the int64 reference, decoded latents equal to
the encoded ones, bits per sample on the whole container, PSNR, and the PSNR of int8 against fp32 encoding.
A package that cannot take an input says so and skips it. Exit status 1 on any mismatch or failed decode.

Example:
    satcomp verify --package hp-rgb-q2 image.png cube.npz --json verify.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def expand_inputs(items: list[str]) -> list[Path]:
    """Files as given; folders expanded to the readable files inside (sorted)."""
    from onboard.imageio import is_readable

    out = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and is_readable(q)))
        else:
            out.append(p)
    return out


def torch_analysis(package):
    """The torch reference analysis of a package (or None when torch is not installed)."""
    try:
        import torch
    except ImportError:
        return None
    from onboard.encoder import quantise_gained
    from onboard.models.export import torch_reference

    mods = torch_reference(package)

    def analysis(x: np.ndarray):
        with torch.no_grad():
            y = mods["g_a"](torch.from_numpy(x))
            z = mods["h_a"](y)
        z_hat = np.rint(z.numpy()).astype(np.int32)
        indexes = package.hyper_synthesis.indexes(z_hat)
        return quantise_gained(package, y.numpy(), z_hat, indexes=indexes), z_hat, indexes

    return analysis


def verify_files(package_name: str, files: list[Path], variants: list[str], tile: int, target: str = "cpu",
                 echo=print) -> tuple[list[dict], int]:
    from ground.verify import verify_variant
    from onboard.errors import UnsupportedInputError
    from onboard.imageio import read_array
    from onboard.zoo import resolve

    pkg = resolve(package_name)
    rows, failures = [], 0
    ana = {}
    if "torch" in variants:
        ana["torch"] = torch_analysis(pkg)
        if ana["torch"] is None:
            echo("torch reference: skipped (torch is not installed)")
    for f in files:
        try:
            img = read_array(f)
        except Exception as exc:  # noqa: BLE001 - reported per file
            echo(f"{f}: cannot read ({type(exc).__name__}: {exc})")
            failures += 1
            continue
        psnr = {}
        for v in variants:
            if v == "torch" and ana.get("torch") is None:
                continue
            try:
                rep = verify_variant(img, pkg, v, analysis=ana.get(v), tile=tile, target=target)
            except UnsupportedInputError as exc:
                echo(f"{f.name}: skipped by {pkg.name}: {exc}")
                break
            d = rep.to_dict() | {"file": str(f), "package": pkg.name}
            rows.append(d)
            psnr[v] = rep.psnr_db
            failures += 0 if rep.ok else 1
            echo(f"{f.name:40s} {v:5s} idx {100 * rep.index_match_fraction:6.2f}%  onnx-h_s "
                 f"{100 * rep.onnx_index_match_fraction:6.2f}%  latents {'same' if rep.latents_identical else 'DIFF'}"
                 f"  {rep.bits_per_sample:.4f} bps  {rep.psnr_db:6.2f} dB  {'ok' if rep.ok else 'MISMATCH ' + rep.error}")
        if "int8" in psnr and "fp32" in psnr:
            echo(f"{f.name:40s} int8 vs fp32 encode: {psnr['int8'] - psnr['fp32']:+.3f} dB")
    return rows, failures


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--package", required=True, action="append",
                   help="zoo name or package directory (repeat the option for several)")
    p.add_argument("images", nargs="+", help="images, cubes (.npz key data, .npy, GeoTIFF) or folders")
    p.add_argument("--variants", nargs="+", default=["int8", "fp32", "torch"], choices=["int8", "fp32", "torch"])
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--target", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--json", default=None, help="write the per-image, per-variant report here")


def run(args: argparse.Namespace) -> int:
    files = expand_inputs(args.images)
    all_rows, failures = [], 0
    for name in args.package:
        rows, f = verify_files(name, files, args.variants, args.tile, args.target)
        all_rows += rows
        failures += f
    if args.json:
        Path(args.json).write_text(json.dumps(all_rows, indent=1))
    print(f"verify: {len(all_rows)} checks, {failures} failure(s)")
    return 1 if failures else 0
