"""``satcomp export``: write one model package per rate point from a training checkpoint (needs torch).

Example:
    satcomp export --checkpoint runs/rgb_v1/weights.pt --data ../shared/data --prefix hp-rgb \\
        --out onboard/zoo/packages
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def load_model(checkpoint: str | Path):
    """A ScaleHyperprior with the weights of ``checkpoint`` (weights.pt or ckpt.pt) and its step."""
    import torch

    from onboard.models.hyperprior import HyperpriorConfig, ScaleHyperprior

    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    config = HyperpriorConfig.from_dict(ck["config"])
    model = ScaleHyperprior(config)
    model.load_state_dict(ck["model"])
    model.qat_done = bool(ck.get("qat", model.h_s.l1.act_scale > 0))
    return model.eval(), int(ck.get("step", 0))


def calibrate_hyper_synthesis(model, crops: list[np.ndarray]) -> None:
    """Post-training calibration of the h_s activation scales (for checkpoints taken before QAT)."""
    import torch

    for layer in (model.h_s.l1, model.h_s.l2, model.h_s.l3):
        layer.act_scale.zero_()
    model.h_s.set_mode(quantize=False, calibrate=True)
    with torch.no_grad():
        for x in crops:
            model(torch.from_numpy(x), 0)
    model.h_s.set_mode(quantize=False, calibrate=False)


def calibration_set(data: str | Path, bands: int, cluster_bands: int | None, spectral: str = "none",
                    n_calib: int = 32, calib_size: int = 256, seed: int = 0) -> list[np.ndarray]:
    """The int8 calibration crops export uses: ``n_calib`` float32 arrays (1, bands, S, S) in [0, 1].

    Image models: ``calib_size`` crops of images drawn from the files of ``data`` with ``bands`` bands;
    clustered models: crops of ``cluster_bands`` bands (or KLT components when ``spectral="klt"``) of at most
    128 pixels from the cubes of ``data`` (:class:`onboard.models.data.CubeCropSampler`). Seeded: the same
    arguments give the same crops, so an export or a requantization can be repeated exactly."""
    from onboard.models.data import collect_files, load_array
    from onboard.models.int8 import calibration_crops

    rng = np.random.default_rng(seed)
    if cluster_bands:
        from onboard.models.data import CubeCropSampler, cube_files

        sampler = CubeCropSampler(cube_files(data), cluster_bands, min(calib_size, 128), spectral=spectral)
        return [sampler.sample(1, rng) for _ in range(n_calib)]
    files = collect_files(data, bands=bands)
    pick = [files[i] for i in rng.permutation(len(files))[: 4 * n_calib]]
    arrays = [a for a in (load_array(f) for f in pick) if min(a.shape[:2]) >= calib_size]
    return calibration_crops(arrays, n_calib, calib_size, seed=seed)


def export_all(checkpoint: str, data: str, out: str, prefix: str, rates: list[int] | None = None,
               n_calib: int = 32, calib_size: int = 256, seed: int = 0, bands: int | None = None,
               cluster_bands: int | None = None, int8_float_convs: int = 1) -> list[Path]:
    """Export the rate points ``rates`` (default: all) of ``checkpoint`` as packages ``<prefix>-q<r>`` in
    ``out`` (format 2: one ``_shared`` store for the family, see :func:`onboard.models.export.export_family`),
    and drop shared files no package of ``out`` lists any more."""
    from onboard.models.export import export_family
    from onboard.package import prune_shared

    model, step = load_model(checkpoint)
    c = model.config
    cluster_bands = cluster_bands or c.cluster_bands
    crops = calibration_set(data, bands or c.bands, cluster_bands, getattr(c, "spectral", "none"), n_calib,
                            calib_size, seed)
    qat = model.qat_done
    if not qat:
        calibrate_hyper_synthesis(model, crops)
    run_dir = Path(checkpoint).parent
    cmd_file = run_dir / "train_command.json"
    training = json.loads(cmd_file.read_text()) if cmd_file.exists() else {}
    training.update({"checkpoint_step": step, "h_s_quantization": "qat" if qat else "post-training calibration",
                     "int8_calibration": f"{n_calib} random {calib_size}x{calib_size} crops of the train files"})
    training["int8_float_convs"] = int8_float_convs
    rates = list(rates) if rates is not None else list(range(len(c.lambdas)))
    paths = export_family(model, rates, out, crops, [f"{prefix}-q{r}" for r in rates], training=training,
                          cluster_bands=cluster_bands, overwrite=True, int8_float_convs=int8_float_convs)
    for r, p in zip(rates, paths):
        print(f"{p.name}: lambda={c.lambdas[r]} -> {p}")
    for f in prune_shared(out):
        print(f"removed unused shared file {f.name}")
    return paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="weights.pt or ckpt.pt of a training run")
    p.add_argument("--data", required=True, help="where calibration crops come from (as for train)")
    p.add_argument("--out", required=True, help="folder that receives one package folder per rate")
    p.add_argument("--prefix", required=True, help="package name prefix, e.g. hp-rgb")
    p.add_argument("--rates", type=int, nargs="*", default=None, help="rate indexes (default: all)")
    p.add_argument("--n-calib", type=int, default=32)
    p.add_argument("--calib-size", type=int, default=256)
    p.add_argument("--cluster-bands", type=int, default=None, help="B of a channel-clustered model")
    p.add_argument("--int8-float-convs", type=int, choices=(1, 2), default=1,
                   help="g_a convs kept float in the int8 graph: 1 (the latent's conv; int8 accelerators keep "
                        "their speed) or 2 (also the 1/8-resolution conv: half the int8 error, free on x86)")


def run(args: argparse.Namespace) -> int:
    export_all(args.checkpoint, args.data, args.out, args.prefix, args.rates, args.n_calib, args.calib_size,
               cluster_bands=args.cluster_bands, int8_float_convs=args.int8_float_convs)
    return 0
