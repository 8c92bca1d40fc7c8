"""Where does a trained model's quality stop? A training diagnostic (torch).

For a checkpoint and a set of crops it reports, in the normalised [0, 1] domain the network sees:

- the *transform ceiling*: PSNR of ``g_s(g_a(x))`` with no quantisation at all, the best any rate point of this
  model can ever reach, however much rate it spends;
- for each rate point: PSNR with the latent rounded as the encoder rounds it, the rate the model's own entropy
  model gives (bits per sample, ``y`` and ``z``), and the share of latent values that are not zero;
- a texture reference: PSNR of the crops against their own 3x3 mean, i.e. how much fine-scale content (or noise)
  the data holds. A ceiling near that figure means the transform smooths away the fine detail.

When the quantised PSNR of the top rate point is close to the ceiling, spending more rate (a larger lambda)
cannot help: the transform is the limit (more latent channels ``--m``, more training).

``--pca-block S --pca-keep D...`` (no checkpoint needed) gives the *linear* ceiling of a latent that keeps D
values per S x S block (all bands): the PSNR of the best rank-D projection of the blocks (block PCA). A
hyperprior keeps ``M`` values per 16 x 16 block and ``N_a`` per 8 x 8 block inside ``g_a``; a model whose
transform ceiling sits near the block-PCA figure of its own widths is held by its dimensions, not its training.

Example::

    python -m tools.model_ceiling --checkpoint checkpoints/hsi_b8_v1/weights.pt --data ../shared/data
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CeilingReport:
    """What :func:`ceiling_report` measures (PSNR in dB in the normalised domain, rates in bits per sample)."""

    transform_psnr_db: float
    texture_psnr_db: float
    rate_psnr_db: tuple[float, ...]
    rate_bits_per_sample: tuple[float, ...]
    nonzero_fraction: tuple[float, ...]

    def table(self) -> str:
        lines = [f"transform ceiling (no quantisation): {self.transform_psnr_db:6.2f} dB",
                 f"texture reference (3x3 mean):        {self.texture_psnr_db:6.2f} dB",
                 "rate  bits/sample  PSNR dB  nonzero y"]
        for r, (p, b, nz) in enumerate(zip(self.rate_psnr_db, self.rate_bits_per_sample, self.nonzero_fraction)):
            lines.append(f"q{r:<4d} {b:11.4f}  {p:7.2f}  {nz:9.3f}")
        return "\n".join(lines)


def _psnr(a, b) -> float:
    import torch

    return 10.0 * math.log10(1.0 / max(float(torch.mean((a - b) ** 2)), 1e-12))


def ceiling_report(model, x: np.ndarray) -> CeilingReport:
    """``model``: a :class:`~onboard.models.hyperprior.ScaleHyperprior`; ``x``: float32 (N, bands, H, W) in
    [0, 1] with H, W multiples of 64. Returns a :class:`CeilingReport`."""
    import torch
    import torch.nn.functional as F

    from onboard.models.layers import gaussian_likelihood

    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    samples = xt.numel()
    with torch.no_grad():
        y = model.g_a(xt)
        ceiling = _psnr(model.g_s(y), xt)
        z_hat = torch.round(model.h_a(y))
        z_bits = float(-torch.log2(model.prior.likelihood(z_hat)).sum())
        sigma_base = F.relu(model.h_s(z_hat))
        psnrs, rates, nonzero = [], [], []
        for r in range(len(model.config.lambdas)):
            g = model.gain(r)
            y_q = torch.round(y * g)
            y_bits = float(-torch.log2(gaussian_likelihood(y_q, sigma_base * g)).sum())
            psnrs.append(_psnr(model.g_s(y_q / g), xt))
            rates.append((y_bits + z_bits) / samples)
            nonzero.append(float((y_q != 0).float().mean()))
        flat = xt.reshape(-1, 1, xt.shape[-2], xt.shape[-1])
        smooth = F.avg_pool2d(F.pad(flat, (1, 1, 1, 1), mode="replicate"), 3, 1).reshape(xt.shape)
        texture = _psnr(smooth, xt)
    return CeilingReport(ceiling, texture, tuple(psnrs), tuple(rates), tuple(nonzero))


def block_pca_psnr(crops: np.ndarray, block: int, keep: list[int]) -> dict[int, float]:
    """PSNR (dB, peak 1) of the best rank-``k`` linear reconstruction of every non-overlapping ``block`` x
    ``block`` x bands block of ``crops`` (float (N, bands, H, W) in [0, 1]) for each ``k`` in ``keep``.

    >>> x = np.random.default_rng(0).random((2, 1, 16, 16))
    >>> sorted(block_pca_psnr(x, 4, [4, 16]).items())[1][1] > 100     # keeping every dimension is lossless
    True
    """
    n, c, h, w = crops.shape
    hb, wb = h // block, w // block
    x = crops[:, :, :hb * block, :wb * block].reshape(n, c, hb, block, wb, block)
    x = x.transpose(0, 2, 4, 1, 3, 5).reshape(-1, c * block * block).astype(np.float64)
    x = x - x.mean(axis=0)
    evals = np.clip(np.linalg.eigvalsh(x.T @ x / len(x))[::-1], 0.0, None)
    dims = x.shape[1]
    return {k: 10.0 * math.log10(1.0 / max(float(evals[k:].sum()) / dims, 1e-12)) for k in keep}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", help="weights.pt or ckpt.pt (required unless --pca-block)")
    p.add_argument("--pca-block", type=int, default=None, help="block size of the block-PCA ceiling")
    p.add_argument("--pca-keep", type=int, nargs="+", default=[192, 384], help="dimensions kept per block")
    p.add_argument("--bands", type=int, default=3, help="with --pca-block: image bands")
    p.add_argument("--data", default="../shared/data", help="data root with manifest.json")
    p.add_argument("--purpose", default="dev-eval", help="manifest purpose of the files to crop (default dev-eval)")
    p.add_argument("--crops", type=int, default=16)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from onboard.models.data import CropSampler, CubeCropSampler, collect_files, cube_files

    if args.pca_block:
        sampler = CropSampler(collect_files(args.data, bands=args.bands, purpose=args.purpose), args.bands,
                              args.crop)
        crops = sampler.sample(args.crops, np.random.default_rng(args.seed))
        print(f"block PCA, {args.crops} crops of {args.crop}, purpose {args.purpose}, "
              f"{args.pca_block} x {args.pca_block} x {args.bands} blocks")
        for k, v in block_pca_psnr(crops, args.pca_block, args.pca_keep).items():
            print(f"keep {k:4d} of {args.pca_block ** 2 * args.bands}: {v:6.2f} dB")
        return 0
    if not args.checkpoint:
        p.error("--checkpoint is required (or --pca-block)")
    import torch

    from tools.export import load_model

    torch.set_num_threads(1)
    model, step = load_model(args.checkpoint)
    rng = np.random.default_rng(args.seed)
    b = model.config.cluster_bands
    if b is None:
        sampler = CropSampler(collect_files(args.data, bands=model.config.bands, purpose=args.purpose),
                              model.config.bands, args.crop)
    else:
        sampler = CubeCropSampler(cube_files(args.data, args.purpose), b, args.crop,
                                  spectral=getattr(model.config, "spectral", "none"))
    report = ceiling_report(model, sampler.sample(args.crops, rng))
    print(f"{args.checkpoint} (step {step}, {args.crops} crops of {args.crop}, purpose {args.purpose})")
    print(report.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
