"""Ground-decoder fine-tuning on the integers the onboard encoder actually sends.

Training (``tools.train``) shows the synthesis ``g_s`` ``round(y * gain)`` from the float analysis. What the
ground receives differs: the onboard ``g_a`` runs as int8, and the rate-distortion choice
(:mod:`onboard.rd_quantise`) moves many values one step towards zero. This fine-tuning starts from a shipped
format-2 family's own ``g_s`` (read back from its ONNX file) and trains it alone, on the exact integers the
family's encoder produces for training crops (ONNX Runtime, the chosen precision, the RD choice):

    loss = MSE(g_s(y_sent / gain_r), x)        r drawn per batch among the family's rate points

then writes those packages again with the new ``g_s``. Nothing onboard changes: every other file of every package
is copied byte for byte (``g_a``, ``h_a``, the integer ``h_s``, the tables, the gains), so the bitstream, the
scale indexes and the decoded latents are those of the source packages. The new packages differ in their
``g_s`` file, in the distortion weights measured through it (:mod:`onboard.models.distortion`) and so in their
ids.

A family's rate points need not share one ``g_s``: fine-tuning a range of them alone (``--packages hp-rgb-q4
hp-rgb-q5``) gives that range a decoder of its own, a *decoder group*, which learns the finer latents of its
rates instead of sharing its capacity with the coarse ones (:func:`check_family`; one run serves one group).

Example:
    python -m tools.finetune_decoder --packages hp-rgb-q0 hp-rgb-q1 hp-rgb-q2 --data ../shared/data \\
        --out runs/rgb_dec --steps 2000
    python -m tools.finetune_decoder --packages hp-rgb-q0 hp-rgb-q1 hp-rgb-q2 --data ../shared/data \\
        --out runs/rgb_dec --steps 2000 --write /tmp/zoo_dec
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np

from onboard.errors import SatcompError
from onboard.package import RATE_FILE
from onboard.rd_quantise import DEFAULT_RD_WEIGHT

DECODER_FILE = "g_s.fp32.onnx"


class FamilyMismatchError(SatcompError, ValueError):
    """The packages given are not one format-2 family (they must share every graph and differ in rate only)."""


def onboard_files(package) -> dict[str, str]:
    """File name -> sha256 of what a format-2 package shares with its whole family: every file but its rate file
    and its ground decoder (``g_s`` may differ between the family's decoder groups)."""
    return {name: digest for name, digest in package.manifest["files"].items()
            if name not in (DECODER_FILE, RATE_FILE)}


def check_family(packages, same_decoder: bool = True) -> None:
    """Raise :class:`FamilyMismatchError` unless ``packages`` are format-2 rate points of one model: the same
    architecture and the same onboard files (``g_a``, ``h_a``, the integer ``h_s``, the tables), differing in
    their rate file only; with ``same_decoder`` also the same ``g_s`` file, i.e. one *decoder group* of the
    family, which one decoder fine-tuning serves. A family may have several groups: each was fine-tuned on
    its own range of rate points (``satcomp finetune-decoder --packages`` names one group)."""
    if not packages:
        raise FamilyMismatchError("no packages given")
    first = packages[0]
    onboard = onboard_files(first)
    for p in packages:
        if p.gain is None:
            raise FamilyMismatchError(f"package {p.name} is format 1 (its gain inside its graphs): the decoder "
                                      f"fine-tuning needs a format-2 family")
        if onboard_files(p) != onboard:
            raise FamilyMismatchError(f"packages {first.name} and {p.name} differ in more than their rate and "
                                      f"ground decoder: not one family")
        if same_decoder and (p.architecture != first.architecture or p.manifest["files"].get(DECODER_FILE)
                             != first.manifest["files"].get(DECODER_FILE)):
            raise FamilyMismatchError(
                f"packages {first.name} and {p.name} have different ground decoders (g_s): they are in different "
                f"decoder groups of the family; fine-tune one group at a time")


def check_post_filter_stages(stages: int) -> int:
    """``stages`` as an int if it is >= 0 (0: the package's own count), else a ValueError that says so."""
    if int(stages) != stages or stages < 0:
        raise ValueError(f"post-filter stages must be an integer >= 0, got {stages}")
    return int(stages)


def decoder_from_package(package, post_filter: int = 0, stages: int = 0):
    """The torch ``g_s`` of a format-2 ``package`` (weights from its ONNX file, its post-filter included),
    taking ``y_hat / gain``. ``post_filter=C`` on a package without one appends a new, identity
    :class:`onboard.models.export.PostFilter` of C channels; a package whose filter has another width is a
    :class:`FamilyMismatchError`. ``stages=S`` (0: the package's own count, or 1 for a new filter) appends new
    identity blocks after the package's own until there are S (a deeper ground filter that starts where the
    shipped one is); fewer than the package has is a :class:`FamilyMismatchError` (trained blocks are not
    dropped)."""
    from onboard.models.export import PostFilter, torch_reference
    from onboard.package import post_filter_spec

    stages = check_post_filter_stages(stages)
    net = torch_reference(package)["g_s"].net
    own, own_stages = post_filter_spec(package.architecture)
    if post_filter and own and own != post_filter:
        raise FamilyMismatchError(f"package {package.name} has a post-filter of {own} channels, "
                                  f"not {post_filter}")
    channels = int(post_filter) or own
    if stages and not channels:
        raise FamilyMismatchError(f"package {package.name} has no post-filter: give its width (post_filter=C) "
                                  f"with the stages")
    want = int(stages) or (own_stages if own else (1 if channels else 0))
    if want < own_stages:
        raise FamilyMismatchError(f"package {package.name} has {own_stages} post-filter stages; its trained "
                                  f"blocks are not dropped (asked for {want})")
    for _ in range(want - own_stages):
        net.append(PostFilter(package.bands, channels))
    return net


def filter_stages(net) -> int:
    """How many :class:`onboard.models.export.PostFilter` blocks the decoder ``net`` ends with."""
    from onboard.models.export import PostFilter

    return sum(isinstance(m, PostFilter) for m in net)


def sent_latents(package, x: np.ndarray, precision: str, rd_weight: float, threads: int = 1) -> np.ndarray:
    """What the ground's ``g_s`` gets for the crops ``x`` (B, bands, H, W) float32 in [0, 1]: the integers the
    onboard encoder sends divided by the rate point's gain, float32 (B, M, H/16, W/16)."""
    from onboard.encoder import analyse

    y_hat, _, _ = analyse(package, x, "cpu", precision, threads, rd_weight=rd_weight)
    return y_hat.astype(np.float32) * package.inverse_gain.reshape(1, -1, 1, 1)


def _project_gdn(net) -> None:
    """Keep every GDN/IGDN valid after a step: gamma >= 0 and beta > 0 (its square root stays real)."""
    import torch

    from onboard.models.export import InferenceGDN

    with torch.no_grad():
        for layer in net:
            if isinstance(layer, InferenceGDN):
                layer.gamma.clamp_(min=0.0)
                layer.beta.clamp_(min=1e-6)


def finetune_decoder(packages: list[str], data: str, out: str, steps: int, batch: int = 2, crop: int = 256,
                     lr: float = 1e-5, seed: int = 0, threads: int = 2, precision: str = "int8",
                     rd_weight: float = DEFAULT_RD_WEIGHT, checkpoint_every: int = 250, progress: bool = True,
                     sampling: str = "area", image_mix: float = 0.0, post_filter: int = 0,
                     true_colour: bool = False, transfer: str | float = "linear",
                     high_bit_share: float | None = None,
                     post_filter_lr_mult: float = 10.0, init_decoder: str | None = None,
                     post_filter_stages: int = 0, low_contrast_share: float = 0.0) -> Path:
    """Fine-tune the shared ``g_s`` of the family ``packages`` (zoo names or folders) on the latents they send
    for random training crops of ``data`` (the training run's sampler: images, or cube crops for a clustered
    family, with ``image_mix`` RGB pseudo-components for a KLT one). Writes ``out/decoder.pt`` (the g_s state
    and the step; resumes from ``out/ckpt.pt``) and returns its path. The learning rate drops 10x for the last
    15 % of the steps. ``post_filter=C`` trains a full-resolution residual filter of C channels after ``g_s``
    (:class:`onboard.models.export.PostFilter`, ground side only; it starts as the identity and learns
    ``post_filter_lr_mult`` x faster than ``g_s``); ``post_filter_stages=S`` appends new identity blocks of
    that filter after the package's own until there are S (:func:`decoder_from_package`). ``init_decoder``: a
    weights-only ``decoder.pt`` of an earlier run on the same packages to start from (its step too, with a
    fresh optimiser), when ``out`` holds no checkpoint yet. ``true_colour``, ``transfer``, ``high_bit_share``,
    ``low_contrast_share``: see :func:`tools.train.make_sampler`."""
    import torch
    from tqdm import tqdm

    from onboard.models.export import PostFilter
    from onboard.zoo import resolve
    from tools.train import data_options_text, lr_at, make_sampler, open_run_log

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    pkgs = [resolve(p) for p in packages]
    check_family(pkgs)
    net = decoder_from_package(pkgs[0], post_filter, post_filter_stages)
    stages = filter_stages(net)
    net.train()
    params = list(net.parameters())
    filter_params = [p for m in net if isinstance(m, PostFilter) for p in m.parameters()]
    ids = {id(p) for p in filter_params}
    groups = [{"params": [p for p in params if id(p) not in ids], "lr_mult": 1.0}]
    if filter_params:
        groups.append({"params": filter_params, "lr_mult": float(post_filter_lr_mult)})
    opt = torch.optim.Adam(groups, lr=lr)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    step = 0
    ckpt_path = out_dir / "ckpt.pt"
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["g_s"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
    elif init_decoder:
        ck = torch.load(init_decoder, map_location="cpu", weights_only=False)
        if int(ck.get("post_filter", 0)) != int(post_filter):
            raise FamilyMismatchError(f"{init_decoder} has a post-filter of {ck.get('post_filter', 0)} channels, "
                                      f"not {post_filter}")
        if int(ck.get("post_filter_stages", stages)) != stages:
            raise FamilyMismatchError(f"{init_decoder} has {ck['post_filter_stages']} post-filter stages, "
                                      f"not {stages}")
        net.load_state_dict(ck["g_s"])
        step = int(ck["step"])
    first = pkgs[0]
    sampler, _, n_used = make_sampler(data, first.bands, crop, cluster_bands=first.cluster_bands,
                                      spectral=first.spectral, sampling=sampling, image_mix=image_mix,
                                      true_colour=true_colour, transfer=transfer, high_bit_share=high_bit_share,
                                      low_contrast_share=low_contrast_share)
    (out_dir / "train_command.json").write_text(json.dumps({
        "command": f"satcomp finetune-decoder --packages {' '.join(packages)} --data {data} --out {out} "
                   f"--steps {steps} --batch {batch} --crop {crop} --lr {lr:g} --seed {seed} "
                   f"--precision {precision} --rd-weight {rd_weight:g} --sampling {sampling}"
                   + (f" --image-mix {image_mix:g}" if image_mix else "")
                   + (" --true-colour" if true_colour else "")
                   + data_options_text(transfer, high_bit_share, low_contrast_share)
                   + (f" --post-filter {post_filter} --post-filter-lr-mult {post_filter_lr_mult:g}"
                      if post_filter else "")
                   + (f" --post-filter-stages {post_filter_stages}" if post_filter_stages else "")
                   + (f" --init-decoder {init_decoder}" if init_decoder else ""),
        "source_packages": {p.name: p.package_id for p in pkgs}, "inputs_used": n_used}, indent=2))
    rng = np.random.default_rng(seed + step)
    log = open_run_log(out_dir, "step,package,psnr_db,elapsed_s")
    bar = tqdm(total=steps, initial=step, disable=not progress, dynamic_ncols=True)
    t0 = time.time()
    while step < steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr) * g["lr_mult"]
        k = int(rng.integers(len(pkgs)))
        x = sampler.sample(batch, rng)
        y_in = torch.from_numpy(sent_latents(pkgs[k], x, precision, rd_weight))
        mse = torch.mean((net(y_in) - torch.from_numpy(x)) ** 2)
        opt.zero_grad(set_to_none=True)
        mse.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        _project_gdn(net)
        step += 1
        psnr = 10 * math.log10(1.0 / max(mse.item(), 1e-10))
        bar.update(1)
        bar.set_postfix(q=pkgs[k].name, psnr=f"{psnr:.2f}")
        log.write(f"{step},{pkgs[k].name},{psnr:.3f},{time.time() - t0:.1f}\n")
        if step % checkpoint_every == 0 or step == steps:
            log.flush()
            tmp = out_dir / "ckpt.pt.tmp"
            torch.save({"g_s": net.state_dict(), "opt": opt.state_dict(), "step": step,
                        "post_filter": post_filter, "post_filter_stages": stages}, tmp)
            tmp.replace(ckpt_path)
            torch.save({"g_s": net.state_dict(), "step": step, "post_filter": post_filter,
                        "post_filter_stages": stages}, out_dir / "decoder.pt")
    bar.close()
    log.close()
    return out_dir / "decoder.pt"


def write_family(packages: list[str], decoder: str, out_root: str, overwrite: bool = False,
                 distortion_weights: bool = True) -> list[Path]:
    """Write the family ``packages`` again into ``out_root`` (format 2, one ``_shared`` store) with the
    ``g_s`` of ``decoder`` (a :func:`finetune_decoder` result): every other file is copied unchanged, the
    manifest records the fine-tuning (``training.decoder_finetune``; a family fine-tuned before keeps that record
    under ``previous``, so the chain of runs stays readable), the distortion weights are measured
    again through the new ``g_s``; shared files no package of ``out_root`` lists any more are deleted (the old
    ``g_s`` when ``out_root`` is where the family came from). Returns the new package paths (each loaded back
    and verified)."""
    import tempfile
    import warnings

    import torch

    from onboard.models.distortion import add_distortion_weights
    from onboard.models.export import SHARED_FILES, SynthesisForExport, export_onnx, store_weights_float16
    from onboard.package import load_package, prune_shared, read_manifest, share_files, write_manifest
    from onboard.zoo import resolve

    pkgs = [resolve(p) for p in packages]
    check_family(pkgs)
    state = torch.load(decoder, map_location="cpu", weights_only=False)
    post_filter = int(state.get("post_filter", 0)) or int(pkgs[0].architecture.get("post_filter", 0))
    net = decoder_from_package(pkgs[0], post_filter, int(state.get("post_filter_stages", 0)))
    stages = filter_stages(net)
    net.load_state_dict(state["g_s"])
    net.eval()
    out_root = Path(out_root)
    for p in pkgs:
        if (out_root / p.name).exists() and not overwrite:
            raise FileExistsError(f"{out_root / p.name} exists (use overwrite=True)")
    cmd_file = Path(decoder).parent / "train_command.json"
    record = json.loads(cmd_file.read_text()) if cmd_file.exists() else {}
    record["step"] = int(state.get("step", 0))
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        g_s_path = Path(tmp) / DECODER_FILE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_onnx(SynthesisForExport(net, None).eval(), "g_s", pkgs[0].latent_channels, g_s_path)
        store_weights_float16(g_s_path)
        for p in pkgs:
            staged = Path(tmp) / p.name
            staged.mkdir()
            files = p.manifest["files"]
            for name in files:
                src = g_s_path if name == DECODER_FILE else p.file_path(name)
                shutil.copyfile(src, staged / name)
            manifest = read_manifest(p.path)
            manifest.pop("files", None)
            manifest.pop("package_id", None)
            training = manifest.setdefault("training", {})
            earlier = training.get("decoder_finetune")
            training["decoder_finetune"] = dict(record, source_id=p.package_id,
                                                **({"previous": earlier} if earlier else {}))
            if post_filter:
                manifest["architecture"]["post_filter"] = post_filter
            if stages > 1:
                manifest["architecture"]["post_filter_stages"] = stages
            dest = out_root / p.name
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(staged, dest)
            write_manifest(dest, manifest, format_version=p.format_version)
            share_files(dest, [n for n in files if n in SHARED_FILES])
            if distortion_weights:
                add_distortion_weights(dest)
            load_package(dest)
            paths.append(dest)
    prune_shared(out_root)  # the replaced g_s, when the family was written over itself
    return paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    from onboard.rd_quantise import check_rd_weight
    from tools.rd import checked, checked_float
    from tools.train import add_run_arguments

    p.add_argument("--packages", nargs="+", required=True,
                   help="the rate points of one format-2 family that share one g_s (a decoder group; all of it, or a "
                        "range of its rates to give them a decoder of their own), as zoo names or package folders")
    add_run_arguments(p, steps=2000, batch=2, crop=256, lr=1e-5)
    p.add_argument("--precision", choices=("int8", "fp32"), default="int8",
                   help="onboard g_a/h_a precision whose latents the decoder learns from")
    p.add_argument("--rd-weight", type=checked_float(check_rd_weight), default=DEFAULT_RD_WEIGHT,
                   help="onboard RD choice weight (0: the dead-zone rounding)")
    p.add_argument("--post-filter", type=int, default=0, metavar="C",
                   help="also train a full-resolution residual filter of C channels after g_s (ground side)")
    p.add_argument("--post-filter-stages", type=checked(lambda text: check_post_filter_stages(int(text))),
                   default=0, metavar="S",
                   help="blocks of that filter one after another: new identity blocks are appended after the "
                        "package's own until there are S (default: the package's own count, 1 for a new filter)")
    p.add_argument("--post-filter-lr-mult", type=float, default=10.0,
                   help="learning-rate multiplier of the post-filter against g_s")
    p.add_argument("--init-decoder", default=None, metavar="PT",
                   help="start from the weights-only decoder.pt of an earlier run on the same packages")
    p.add_argument("--write", default=None, metavar="DIR",
                   help="after training, write the family with the new g_s into DIR (overwrites its packages)")


def run(args: argparse.Namespace) -> int:
    from tools.train import run_options

    path = finetune_decoder(args.packages, args.data, args.out, args.steps, **run_options(args),
                            precision=args.precision, rd_weight=args.rd_weight, post_filter=args.post_filter,
                            post_filter_lr_mult=args.post_filter_lr_mult, init_decoder=args.init_decoder,
                            post_filter_stages=args.post_filter_stages)
    print(f"decoder: {path}")
    if args.write:
        for p in write_family(args.packages, str(path), args.write, overwrite=True):
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
