"""``satcomp requantize``: rebuild the int8 encoder graphs of model packages from their fp32 graphs.

A package's int8 ``g_a`` and ``h_a`` are a function of its fp32 graphs, the calibration crops and the
quantization settings (:mod:`onboard.models.int8`); nothing else of the package depends on them. This command
recomputes them without the training checkpoint (and without torch), for:

- another float depth (``--int8-float-convs 2`` keeps g_a's 1/8-resolution convolution float as well: about
  half the int8 error, free on x86 CPUs, but a float layer falls back to the CPU on int8 accelerators);
- calibration on a mission's own imagery (``--data`` naming the sensor's scenes or cubes);
- a family whose checkpoint is gone.

With the export's own data and settings (``--data ../shared/data``, seed 0, 32 crops) it rebuilds the shipped
g_a int8 graphs byte for byte. The ground side (``g_s``, the integer ``h_s``, the CDF tables, ``rate.npz``)
is copied unchanged, so a scene decodes exactly as before, but every package gets a new id (its int8 files
changed, and a coded scene names the package that coded it); the manifest records the old id under
``training.requantized_from``.

Example:
    satcomp requantize --package cc-klt --data ../shared/data --int8-float-convs 2 --out /tmp/cc-klt-d2
    satcomp rd --package /tmp/cc-klt-d2/cc-klt-q0 ... --precision int8 fp32 --out /tmp/rd cube.npz
"""
from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
from pathlib import Path

import numpy as np

from onboard.package import (
    ONNX_FILES,
    SHARED_DIR,
    ModelPackage,
    load_package,
    prune_shared,
    share_files,
    write_manifest,
)

G_A_FP32, G_A_INT8 = ONNX_FILES[("g_a", "fp32")], ONNX_FILES[("g_a", "int8")]
H_A_FP32, H_A_INT8 = ONNX_FILES[("h_a", "fp32")], ONNX_FILES[("h_a", "int8")]


def _quantize_pair(package: ModelPackage, calibration: list[np.ndarray], float_depth: int, out: Path,
                   keep_h_a: bool) -> None:
    """int8 g_a (calibrated on ``calibration``) and, unless ``keep_h_a``, int8 h_a (calibrated on the fp32
    g_a's latents of the same crops, un-gained as h_a sees them) of ``package`` into ``out``."""
    import onnxruntime as ort

    from onboard.models.int8 import quantize_int8

    quantize_int8(package.file_path(G_A_FP32), out / G_A_INT8, "x", calibration, float_depth=float_depth)
    if keep_h_a:
        return
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    g_a = ort.InferenceSession(str(package.file_path(G_A_FP32)), opts, providers=["CPUExecutionProvider"])
    latents = [g_a.run(None, {"x": x})[0] for x in calibration]
    quantize_int8(package.file_path(H_A_FP32), out / H_A_INT8, "y", latents)


def requantize_family(packages: list, out_root: str | Path, calibration: list[np.ndarray],
                      int8_float_convs: int = 1, calibration_note: str = "", keep_h_a: bool = False
                      ) -> list[Path]:
    """Write a copy of each package of ``packages`` (ModelPackage, zoo name or directory) into
    ``out_root/<name>`` with int8 graphs rebuilt from its fp32 ones; return the new package paths.

    ``calibration``: float32 arrays (1, bands, H, W) in [0, 1] (:func:`tools.export.calibration_set`).
    Packages that share their fp32 graphs (a format-2 family) are quantized once. Format-2 packages keep
    their shared files in ``out_root/_shared``; files no package there lists any more are removed. Every
    new package is loaded back and verified; ``out_root`` may be the packages' own folder (the new ones
    replace them).

    ``keep_h_a``: keep each package's int8 h_a and rebuild only g_a. h_a's calibration does not depend on the
    float depth, and the export calibrated it on torch's latents, which ONNX Runtime reproduces only to
    float rounding (enough to move a percentile histogram bin): with the export's data and settings the
    rebuilt g_a is byte-identical to the exported one, a rebuilt h_a is not."""
    from onboard.zoo import resolve

    if int8_float_convs not in (1, 2):
        raise ValueError(f"int8_float_convs must be 1 or 2, got {int8_float_convs}")
    pkgs = [resolve(p) for p in packages]
    names = [p.name for p in pkgs]
    if len(set(names)) != len(names):
        raise ValueError(f"package names repeat: {names}")
    out_root = Path(out_root)
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        quantized: dict[tuple[str, str], Path] = {}
        staged = []
        for pkg in pkgs:
            files = pkg.manifest["files"]
            key = (files[G_A_FP32], files[H_A_FP32])
            if key not in quantized:
                quantized[key] = tmp / f"_int8_{len(quantized)}"
                quantized[key].mkdir()
                _quantize_pair(pkg, calibration, int8_float_convs, quantized[key], keep_h_a)
            stage = tmp / pkg.name
            stage.mkdir()
            for name in files:
                rebuilt = name == G_A_INT8 or (name == H_A_INT8 and not keep_h_a)
                src = quantized[key] / name if rebuilt else pkg.file_path(name)
                shutil.copyfile(src, stage / name)
            manifest = copy.deepcopy(pkg.manifest)
            manifest["architecture"]["int8_float_convs"] = int(int8_float_convs)
            training = manifest.setdefault("training", {})
            training["int8_calibration"] = calibration_note or f"{len(calibration)} given crops"
            training["requantized_from"] = pkg.package_id
            write_manifest(stage, manifest, format_version=int(pkg.manifest.get("format_version", 1)))
            shared = [n for n in files if pkg.file_path(n).parent.name == SHARED_DIR]
            staged.append((stage, shared))
        out_root.mkdir(parents=True, exist_ok=True)
        for stage, shared in staged:
            dst = out_root / stage.name
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(stage, dst)
            if shared:
                share_files(dst, shared)
            load_package(dst)
            paths.append(dst)
    prune_shared(out_root)
    return paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--package", action="append", required=True,
                   help="zoo name or package directory; repeat, or give a family prefix such as cc-klt")
    p.add_argument("--data", required=True, help="images or cubes to calibrate on (as for export)")
    p.add_argument("--out", required=True, help="folder that receives the new packages (and their _shared)")
    p.add_argument("--int8-float-convs", type=int, choices=(1, 2), default=1,
                   help="g_a convs kept float: 1 (the latent's conv) or 2 (also the 1/8-resolution conv)")
    p.add_argument("--n-calib", type=int, default=32)
    p.add_argument("--calib-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-h-a", action="store_true",
                   help="rebuild only g_a's int8 graph (h_a's calibration does not depend on the float depth)")


def run(args: argparse.Namespace) -> int:
    from tools.export import calibration_set
    from tools.rd import resolve_packages

    pkgs = resolve_packages(args.package)
    first = pkgs[0]
    spectral = first.manifest["architecture"].get("spectral", "none")
    for p in pkgs[1:]:
        if (p.bands, p.cluster_bands, p.manifest["architecture"].get("spectral", "none")) != (
                first.bands, first.cluster_bands, spectral):
            print(f"satcomp requantize: error: {p.name} does not take the same input as {first.name}")
            return 2
    crops = calibration_set(args.data, first.bands, first.cluster_bands, spectral, args.n_calib, args.calib_size,
                            args.seed)
    size = crops[0].shape[-1]
    note = (f"{len(crops)} random {size}x{size} crops of {args.data} (seed {args.seed}), "
            f"satcomp requantize --int8-float-convs {args.int8_float_convs}"
            + (" --keep-h-a (h_a as exported)" if args.keep_h_a else ""))
    for path in requantize_family(pkgs, args.out, crops, args.int8_float_convs, note, keep_h_a=args.keep_h_a):
        print(f"{path.name}: {load_package(path).package_id[:16]}... -> {path}")
    return 0
