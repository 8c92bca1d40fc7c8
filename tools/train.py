"""Training loop for the variable-rate scale hyperprior (CPU by default, CUDA when present).

Loss per batch: R + lambda_r * 255^2 * MSE with one rate point r drawn per batch (R in bits per pixel for
image models, bits per pixel per band for channel-clustered ones; MSE on the [0, 1]-normalised bands). The last
``qat_fraction`` of the steps calibrates then fake-quantizes the hyper-synthesis (quantization-aware
fine-tuning) so the integer h_s costs almost nothing in rate. Checkpoints resume: ``ckpt.pt`` holds model,
optimiser and step; ``weights.pt`` is weights-only (what gets committed).

Example:
    python -m tools.train --data ../shared/data --out runs/rgb --steps 8000
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from tools.rd import checked_transfer, transfer_help


GAIN_SLOPE_PER_LOG_LAMBDA = 0.5  # high-rate theory: MSE ~ step**2, so the best step ~ lambda**-1/2


def gains_for_lambdas(src_log_gain, src_lambdas, lambdas):
    """Per-rate log-gains for ``lambdas`` from a source model's rows (``src_log_gain`` (R, M) for
    ``src_lambdas``): linear interpolation in log lambda inside the source's range, and outside it the nearest
    end row plus ``0.5 * log(lambda / lambda_end)`` (at high rate the MSE goes as the quantisation step
    squared, so the rate–distortion optimum moves the step as lambda**-1/2). Returns an (R', M) tensor."""
    import torch

    src = src_log_gain.detach().to(torch.float64)
    ls = np.log(np.asarray(src_lambdas, np.float64))
    order = np.argsort(ls)
    ls, src = ls[order], src[torch.as_tensor(order)]
    rows = []
    for lam in np.log(np.asarray(lambdas, np.float64)):
        if lam <= ls[0]:
            rows.append(src[0] + GAIN_SLOPE_PER_LOG_LAMBDA * (lam - ls[0]))
        elif lam >= ls[-1]:
            rows.append(src[-1] + GAIN_SLOPE_PER_LOG_LAMBDA * (lam - ls[-1]))
        else:
            j = int(np.searchsorted(ls, lam))
            t = (lam - ls[j - 1]) / (ls[j] - ls[j - 1])
            rows.append(src[j - 1] * (1 - t) + src[j] * t)
    return torch.stack(rows).to(src_log_gain.dtype)


def _widenable_keys(model, src: dict) -> set[str]:
    """Keys whose tensor in ``model`` is the source's grown only along channel counts that grew (the latent
    ``m``, the synthesis width inside ``g_s``, the analysis width inside ``g_a``): the tensors widening copies
    into a leading slice. A band count that happens to equal a width is not one of them."""
    own = model.state_dict()

    def width(key: str, dim: int) -> int | None:
        return int(src[key].shape[dim]) if key in src else None

    c = model.config
    grown_m = (c.m,) if (width("g_a.net.6.weight", 0) or c.m) < c.m else ()
    ns, na = c.synthesis_width, c.analysis_width
    grown_ns = (ns,) if (width("g_s.net.0.weight", 1) or ns) < ns else ()
    grown_na = (na,) if (width("g_a.net.0.weight", 0) or na) < na else ()
    keys = set()
    for k, v in src.items():
        t = own.get(k)
        if t is None or t.shape == v.shape or t.dim() != v.dim() or any(a < b for a, b in zip(t.shape, v.shape)):
            continue
        allowed = grown_m + (grown_ns if k.startswith("g_s.") else grown_na if k.startswith("g_a.") else ())
        if all(a == b or a in allowed for a, b in zip(t.shape, v.shape)):
            keys.add(k)
    return keys


def init_from_weights(model, src: dict, src_lambdas=None) -> tuple[int, int]:
    """Seed ``model`` from another run's state dict; return (tensors copied, tensors widened).

    With ``src_lambdas`` (the source run's rate points) the per-rate log-gains are matched by lambda value,
    not by position (:func:`gains_for_lambdas`): a run with another lambda ladder starts every rate point at
    the gain the source learnt for that lambda, or extrapolated from it by theory.

    A tensor of the same shape is copied. A tensor that differs only by being wider in the latent channels
    (a model with a larger ``m`` seeded from a smaller one) gets the source in its leading slice; the new
    *input* slices of a convolution (the new latent channels entering ``g_s`` and ``h_a``) are zeroed, so the
    widened model starts out computing exactly what the source computed and the new channels are learned. A
    model with more rate points (lambdas appended above the source's) gets the source's per-rate log-gains and
    new rows extrapolated geometrically from the last two, so the new rate points start one gain step finer.
    A model with a wider ground decoder (``n_s`` larger than the source's synthesis width) gets the source's
    ``g_s`` in the leading channels the same way: new hidden channels are computed but enter the next layer
    through zeroed weights, and the GDN couplings between old and new channels start at zero. A wider onboard
    analysis (``n_a``) is widened the same way inside ``g_a``.
    Any other mismatch (another band count) keeps the model's own initialisation.
    """
    import torch
    from torch import nn

    own = model.state_dict()
    new_state, copied, widened = {}, 0, 0
    widenable = _widenable_keys(model, src)
    for k, v in src.items():
        if k not in own:
            continue
        t = own[k]
        if k == "log_gain" and src_lambdas is not None and v.shape[1] <= t.shape[1]:
            if list(src_lambdas) != list(model.config.lambdas) or v.shape != t.shape:
                w = t.clone()
                w[:, : v.shape[1]] = gains_for_lambdas(v, src_lambdas, model.config.lambdas)
                new_state[k] = w
                widened += 1
                continue
        if t.shape == v.shape:
            new_state[k] = v
            copied += 1
            continue
        if k == "log_gain" and t.shape[0] > v.shape[0] >= 2 and t.shape[1] >= v.shape[1]:
            w = t.clone()
            w[: v.shape[0], : v.shape[1]] = v
            for extra in range(1, t.shape[0] - v.shape[0] + 1):
                w[v.shape[0] + extra - 1, : v.shape[1]] = v[-1] + extra * (v[-1] - v[-2])
            new_state[k] = w
            widened += 1
            continue
        if k not in widenable:
            continue
        w = t.clone()  # outside the source's slice: the model's own init (GDN couplings start at exactly zero)
        w[tuple(slice(0, n) for n in v.shape)] = v
        module = model.get_submodule(k.rsplit(".", 1)[0]) if "." in k else None
        if k.endswith(".weight") and isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            in_dim = 1 if isinstance(module, nn.Conv2d) else 0
            if w.shape[in_dim] > v.shape[in_dim]:
                index = [slice(None)] * w.dim()
                index[in_dim] = slice(v.shape[in_dim], None)
                w[tuple(index)] = 0.0
        new_state[k] = w
        widened += 1
    with torch.no_grad():
        model.load_state_dict(new_state, strict=False)
    return copied, widened


def widened_regions(model, src: dict) -> dict[str, "torch.Tensor"]:
    """For every tensor of ``model`` that :func:`init_from_weights` widens from the source's (a larger ``m``,
    ``n_a`` or ``n_s``), a bool mask that is True outside the source's leading slice: the weights that did not
    exist in the source. The per-rate gains are left out (they have their own learning rate). Depends on the
    shapes only, so a resumed run recomputes it from ``--init-weights``."""
    import torch

    own = model.state_dict()
    masks = {}
    for k in _widenable_keys(model, src) - {"log_gain"}:
        mask = torch.ones(own[k].shape, dtype=torch.bool)
        mask[tuple(slice(0, n) for n in src[k].shape)] = False
        masks[k] = mask
    return masks


LR_DROP_AT = 0.85  # share of the steps after which the learning rate is a tenth


def lr_at(step: int, steps: int, lr: float) -> float:
    """Learning rate of ``step`` in a run of ``steps``: ``lr``, a tenth of it for the last 15 %."""
    return lr if step < int(LR_DROP_AT * steps) else lr * 0.1


def open_run_log(out_dir: Path, header: str):
    """``out_dir/train_log.csv`` opened for appending (a resumed run continues it), ``header`` written if new."""
    path = Path(out_dir) / "train_log.csv"
    new = not path.exists()
    log = open(path, "a")
    if new:
        log.write(header + "\n")
    return log


def make_sampler(data: str, bands: int, crop: int, cluster_bands: int | None = None, spectral: str = "none",
                 sampling: str = "area", image_mix: float = 0.0, true_colour: bool = False,
                 transfer: str | float = "linear", high_bit_share: float | None = None,
                 low_contrast_share: float = 0.0):
    """The crop sampler a training run draws from: ``(sampler, files, inputs used)``. Image models get
    :class:`onboard.models.data.CropSampler` over the ``bands``-band train files (with ``true_colour``, files
    with band names are read as red, green, blue and multispectral files add their true-colour composite;
    :func:`onboard.models.data.load_image`); clustered ones
    (``cluster_bands=B``) :class:`onboard.models.data.CubeCropSampler` over the cubes (raw bands or spectral KLT
    components), mixed with a share ``image_mix`` of RGB pseudo-components for KLT models of one band.
    ``transfer`` and ``high_bit_share``: image crops through the encoder's transfer curve, and the share drawn
    from > 8-bit images, ``low_contrast_share`` the share squeezed to a lower contrast
    (:class:`onboard.models.data.CropSampler`)."""
    from onboard.models.data import (
        CropSampler, CubeCropSampler, MixedSampler, PseudoComponentSampler, collect_files, cube_files,
    )

    if cluster_bands is None:
        files = collect_files(data, bands=bands, true_colour=true_colour)
        sampler = CropSampler(files, bands=bands, crop=crop, sampling=sampling, true_colour=true_colour,
                              transfer=transfer, high_bit_share=high_bit_share,
                              low_contrast_share=low_contrast_share)
        return sampler, files, len(sampler.images)
    if transfer != "linear" or high_bit_share is not None or low_contrast_share:
        raise ValueError("transfer, high_bit_share and low_contrast_share apply to image models (the cube codec "
                         "codes KLT components or raw bands linearly)")
    files = cube_files(data)
    sampler = CubeCropSampler(files, cluster_bands, crop, spectral=spectral)
    n_used = len(sampler.cubes)
    if image_mix > 0:
        if spectral != "klt" or cluster_bands != 1:
            raise ValueError("image_mix trains KLT components of one band: needs spectral='klt' and "
                             "cluster_bands=1")
        rgb = CropSampler(collect_files(data, bands=3, true_colour=true_colour), bands=3, crop=crop,
                          sampling=sampling, true_colour=true_colour)
        pseudo = PseudoComponentSampler(rgb.images, crop, probabilities=rgb.probabilities)
        sampler = MixedSampler(sampler, pseudo, image_mix)
        n_used += len(rgb.images)
    return sampler, files, n_used


def train(data: str, out: str, steps: int, batch: int = 8, crop: int = 128, lr: float = 2e-4,
          seed: int = 0, bands: int = 3, n: int = 64, m: int = 96, nz: int = 48,
          lambdas: tuple[float, ...] = (0.0018, 0.0035, 0.0067, 0.013, 0.025), qat_fraction: float = 0.15,
          threads: int = 2, device: str | None = None, checkpoint_every: int = 250,
          init_weights: str | None = None, progress: bool = True, cluster_bands: int | None = None,
          sampling: str = "area", n_s: int | None = None, spectral: str = "none", n_a: int | None = None,
          gain_lr_mult: float = 1.0, image_mix: float = 0.0, widen_warmup: int = 0,
          true_colour: bool = False, transfer: str | float = "linear", high_bit_share: float | None = None,
          widen_lr_mult: float = 1.0, low_contrast_share: float = 0.0) -> Path:
    """Train (or resume) a model into ``out``; return the path of the weights-only file.

    ``cluster_bands=B`` trains the channel-clustered codec: B-band crops of the multi/hyperspectral cubes
    with band-order and band-subset augmentation (:class:`onboard.models.data.CubeCropSampler`). ``sampling``
    chooses how image crops draw their image (``"area"``: by pixel count; ``"image"``: uniformly; see
    :class:`onboard.models.data.CropSampler`). ``spectral="klt"`` (clustered only) trains on spectral KLT
    components on one common scale, as the encoder's ``spectral="klt"`` mode codes them. ``gain_lr_mult``
    scales the learning rate of the per-rate gain vectors. ``image_mix=F`` (spectral KLT, B = 1 only) draws a
    share F of the crops as pseudo-components of the RGB training images
    (:class:`onboard.models.data.PseudoComponentSampler`): the cubes hold few scenes, the leading component
    is a panchromatic-like image, and the RGB set has hundreds. ``true_colour``: RGB crops from files with band
    names in red, green, blue order, plus multispectral true-colour composites (:func:`make_sampler`)."""
    import torch
    from tqdm import tqdm

    from onboard.models.hyperprior import HyperpriorConfig, ScaleHyperprior

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cluster_bands is not None:
        bands = cluster_bands
    if spectral != "none" and cluster_bands is None:
        raise ValueError("spectral='klt' trains a clustered codec: give cluster_bands")
    config = HyperpriorConfig(bands=bands, n=n, m=m, nz=nz, lambdas=tuple(lambdas), cluster_bands=cluster_bands,
                              n_s=n_s, spectral=spectral, n_a=n_a)
    model = ScaleHyperprior(config).to(dev)
    main_params = [p for n_, p in model.named_parameters() if not n_.endswith("quantiles")]
    # the per-rate gains move the quantisation step by factors of several: at the network's learning rate
    # they lag far behind (rate points at high lambda then bunch together), so they learn gain_lr_mult x faster
    gain_params = [model.log_gain]
    net_params = [p for p in main_params if p is not model.log_gain]
    opt = torch.optim.Adam([{"params": net_params, "lr_mult": 1.0},
                            {"params": gain_params, "lr_mult": float(gain_lr_mult)}], lr=lr)
    aux_opt = torch.optim.Adam([model.prior.quantiles], lr=1e-3)
    step = 0
    ckpt_path = out_dir / "ckpt.pt"
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=dev, weights_only=False)
        model.load_state_dict(ck["model"])
        try:
            opt.load_state_dict(ck["opt"])
        except ValueError:  # a run started before the gains had their own parameter group
            print("optimiser state has another parameter grouping: Adam restarts from zero moments")
        if "aux_opt" in ck:
            aux_opt.load_state_dict(ck["aux_opt"])
        step = ck["step"]
    src_m = None  # the latent width of --init-weights: channels from there on are new (widen_warmup)
    if init_weights:
        ck = torch.load(init_weights, map_location=dev, weights_only=False)
        src = ck["model"] if "model" in ck else ck
        if "g_a.net.6.weight" in src:
            src_m = int(src["g_a.net.6.weight"].shape[0])
        if step == 0:
            # fine-tuning start (or a wider latent): see init_from_weights
            src_lambdas = ck.get("config", {}).get("lambdas") if "model" in ck else None
            copied, widened = init_from_weights(model, src, src_lambdas=src_lambdas)
            print(f"initialised {copied} tensors and widened {widened} of {len(model.state_dict())} from "
                  f"{init_weights}")
    if widen_warmup and not (src_m and src_m < config.m):
        raise ValueError("widen_warmup needs --init-weights from a model with a narrower latent (--m)")
    params = dict(model.named_parameters())
    new_regions = {}
    if widen_lr_mult != 1.0:
        if not init_weights:
            raise ValueError("widen_lr_mult needs --init-weights (it speeds up what widening added)")
        new_regions = {k: mask.to(dev) for k, mask in widened_regions(model, src).items() if k in params}
    sampler, files, n_used = make_sampler(data, bands, crop, cluster_bands=cluster_bands, spectral=spectral,
                                          sampling=sampling, image_mix=image_mix, true_colour=true_colour,
                                          transfer=transfer, high_bit_share=high_bit_share,
                                          low_contrast_share=low_contrast_share)
    rng = np.random.default_rng(seed + step)  # resume draws a fresh but reproducible stream
    (out_dir / "train_command.json").write_text(json.dumps({
        "command": f"satcomp train --data {data} --out {out} --steps {steps} --batch {batch} --crop {crop} "
                   f"--lr {lr} --seed {seed} --bands {bands} --n {n} --m {m} --nz {nz} "
                   + (f"--n-s {n_s} " if n_s else "") + (f"--n-a {n_a} " if n_a else "") +
                   f"--lambdas {' '.join(str(v) for v in lambdas)}"
                   + (f" --cluster-bands {cluster_bands}" if cluster_bands else "")
                   + (f" --spectral {spectral}" if spectral != "none" else "")
                   + (f" --gain-lr-mult {gain_lr_mult:g}" if gain_lr_mult != 1.0 else "")
                   + (f" --widen-warmup {widen_warmup}" if widen_warmup else "")
                   + (f" --widen-lr-mult {widen_lr_mult:g}" if widen_lr_mult != 1.0 else "")
                   + (f" --image-mix {image_mix:g}" if image_mix > 0 else "")
                   + (f" --init-weights {init_weights}" if init_weights else "")
                   + (f" --sampling {sampling}" if cluster_bands is None else "")
                   + (" --true-colour" if true_colour else "")
                   + data_options_text(transfer, high_bit_share, low_contrast_share),
        "files": len(files), "images_used": n_used, "config": config.to_dict()}, indent=2))
    qat_start = int(steps * (1 - qat_fraction))
    log = open_run_log(out_dir, "step,rate_index,rate_bits,psnr_db,loss,aux_loss,elapsed_s")
    bar = tqdm(total=steps, initial=step, disable=not progress, dynamic_ncols=True)
    t0 = time.time()
    while step < steps:
        in_qat = step >= qat_start
        model.noisy_synthesis_from = src_m if step < widen_warmup else None
        model.h_s.set_mode(quantize=in_qat and step >= qat_start + 200, calibrate=in_qat)
        lr_now = lr_at(step, steps, lr)
        for g in opt.param_groups:
            g["lr"] = lr_now * g.get("lr_mult", 1.0)
        r = int(rng.integers(len(lambdas)))
        x = torch.from_numpy(sampler.sample(batch, rng)).to(dev)
        outp = model(x, r)
        # rate per pixel for image models, per sample (pixel x band) for clustered ones: the clustered
        # codec's operating points are in bits per pixel per band
        npix = x.shape[0] * x.shape[2] * x.shape[3] * (x.shape[1] if cluster_bands else 1)
        bpp = (-torch.log2(outp["y_lik"]).sum() - torch.log2(outp["z_lik"]).sum()) / npix
        mse = torch.mean((outp["x_hat"] - x) ** 2)
        loss = bpp + lambdas[r] * 255 ** 2 * mse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        before = {k: params[k].detach().clone() for k in new_regions}
        opt.step()
        with torch.no_grad():  # the weights widening added move widen_lr_mult x as far (Adam steps are ~lr)
            for k, mask in new_regions.items():
                params[k].add_((params[k] - before[k]) * mask * (widen_lr_mult - 1.0))
        aux_opt.zero_grad(set_to_none=True)
        aux = model.prior.aux_loss()
        aux.backward()
        aux_opt.step()
        step += 1
        psnr = 10 * math.log10(1.0 / max(mse.item(), 1e-10))
        bar.update(1)
        bar.set_postfix(r=r, bpp=f"{bpp.item():.3f}", psnr=f"{psnr:.2f}", loss=f"{loss.item():.3f}",
                        aux=f"{aux.item():.1f}")
        log.write(f"{step},{r},{bpp.item():.5f},{psnr:.3f},{loss.item():.5f},{aux.item():.3f},"
                  f"{time.time() - t0:.1f}\n")
        if step % checkpoint_every == 0 or step == steps:
            log.flush()
            tmp = out_dir / "ckpt.pt.tmp"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "aux_opt": aux_opt.state_dict(),
                        "step": step,
                        "config": config.to_dict()}, tmp)
            tmp.replace(ckpt_path)
            torch.save({"model": model.state_dict(), "step": step, "config": config.to_dict(),
                        "qat": step > qat_start + 200}, out_dir / "weights.pt")
    bar.close()
    log.close()
    return out_dir / "weights.pt"


def data_options_text(transfer: str | float, high_bit_share: float | None, low_contrast_share: float = 0.0) -> str:
    """The recorded-command text of ``--transfer`` / ``--high-bit-share`` / ``--low-contrast-share`` (empty at
    their defaults)."""
    return ((f" --transfer {transfer}" if transfer != "linear" else "")
            + (f" --high-bit-share {high_bit_share:g}" if high_bit_share is not None else "")
            + (f" --low-contrast-share {low_contrast_share:g}" if low_contrast_share else ""))


def add_run_arguments(p: argparse.ArgumentParser, steps: int, batch: int, crop: int, lr: float) -> None:
    """The options every training loop shares (data, run folder, steps, batch, crop, learning rate, seed,
    threads, checkpointing, progress bar and how crops are drawn), with the loop's own defaults."""
    p.add_argument("--data", required=True,
                   help="folder with manifest.json (its train files), any image folder, or a file")
    p.add_argument("--out", required=True, help="run folder (resumes from its ckpt.pt)")
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--crop", type=int, default=crop)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--sampling", choices=("area", "image"), default="area",
                   help="image crops: draw the image by pixel count (area, default) or uniformly (image)")
    p.add_argument("--image-mix", type=float, default=0.0,
                   help="KLT models of one band (B=1): share of crops made as pseudo-components of the RGB train "
                        "images")
    p.add_argument("--true-colour", action="store_true",
                   help="RGB crops: read files with band names as red, green, blue (Landsat 8 B2 B3 B4 files are "
                        "stored blue first) and add the true-colour composites of multispectral train files")
    p.add_argument("--transfer", type=checked_transfer, default="linear",
                   help="image crops through " + transfer_help("linear, as recorded runs trained; auto is what "
                                                               "flight codes"))
    p.add_argument("--high-bit-share", type=float, default=None,
                   help="image crops: share drawn from the images of more than 8 bits (satellite DN scenes)")
    p.add_argument("--low-contrast-share", type=float, default=0.0,
                   help="image crops: share squeezed into a random sub-range (contrast 0.2-1, log-uniform), as "
                        "satellite scenes are after min-max range normalisation")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p, steps=8000, batch=8, crop=128, lr=2e-4)
    p.add_argument("--bands", type=int, default=3)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--m", type=int, default=96)
    p.add_argument("--nz", type=int, default=48)
    p.add_argument("--n-s", type=int, default=None,
                   help="width of the ground-side synthesis g_s (default: --n); outside the onboard MAC budget")
    p.add_argument("--n-a", type=int, default=None,
                   help="width of the onboard analysis g_a (default: --n); every channel costs onboard MACs")
    p.add_argument("--lambdas", type=float, nargs="+", default=[0.0018, 0.0035, 0.0067, 0.013, 0.025])
    p.add_argument("--init-weights", default=None, help="start from these weights (fine-tuning)")
    p.add_argument("--cluster-bands", type=int, default=None,
                   help="train the channel-clustered codec with clusters of B bands on the cubes")
    p.add_argument("--gain-lr-mult", type=float, default=1.0,
                   help="learning-rate multiplier of the per-rate gain vectors (10 lets high-lambda points separate)")
    p.add_argument("--widen-warmup", type=int, default=0,
                   help="steps during which the latent channels added by widening (--m above the --init-weights "
                        "model's) reach g_s as y + uniform noise, not rounded, so they get gradients")
    p.add_argument("--widen-lr-mult", type=float, default=1.0,
                   help="learning-rate multiplier of the weights that widening added (outside the --init-weights "
                        "model's slices)")
    p.add_argument("--spectral", choices=("none", "klt"), default="none",
                   help="clustered codec: train on raw bands (none) or on spectral KLT components (klt)")


def run_options(args: argparse.Namespace) -> dict:
    """The keyword arguments, for :func:`train` or :func:`tools.finetune_decoder.finetune_decoder`, of the
    options :func:`add_run_arguments` defines (``--data``, ``--out`` and ``--steps`` go by position)."""
    return dict(batch=args.batch, crop=args.crop, lr=args.lr, seed=args.seed, threads=args.threads,
                checkpoint_every=args.checkpoint_every, progress=not args.no_progress, sampling=args.sampling,
                image_mix=args.image_mix, true_colour=args.true_colour, transfer=args.transfer,
                high_bit_share=args.high_bit_share, low_contrast_share=args.low_contrast_share)


def run(args: argparse.Namespace) -> int:
    path = train(args.data, args.out, args.steps, **run_options(args),
                 bands=args.bands, n=args.n, m=args.m, nz=args.nz, lambdas=tuple(args.lambdas),
                 init_weights=args.init_weights, cluster_bands=args.cluster_bands, n_s=args.n_s,
                 spectral=args.spectral, n_a=args.n_a, gain_lr_mult=args.gain_lr_mult,
                 widen_warmup=args.widen_warmup, widen_lr_mult=args.widen_lr_mult)
    print(f"weights: {path}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
