"""Onboard encoder latency: fp32 vs int8 ``g_a`` + ``h_a`` on ONNX Runtime CPU, 1 thread, one 512x512 tile.

Prints the median and p95 over ``--runs`` runs for each variant and their ratio (the anchor is fp32, measured
in the same run), with MACs per pixel and parameter counts from the ONNX graphs (hw_profiles.onnx_cost).
Real image content (a crop of the bundled Landsat 7 sample) is used, so activations are realistic. A second
line per package times the latent quantiser that follows ``g_a``: dead-zone rounding against the
rate-distortion choice (:mod:`onboard.rd_quantise`; it reads the scale indexes of the integer h_s, which the
entropy coder needs anyway and which are timed beside it), as a share of the int8 ``g_a`` + ``h_a`` time.

    python tools/bench_encoder.py [--package hp-rgb-q2] [--tile 512] [--runs 20] [--threads 1]
"""
from __future__ import annotations

import argparse
import os

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", action="append", default=None)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import onboard
    from hw_profiles.onnx_cost import analyze_onnx
    from hw_profiles.profiler import measure_latency
    from onboard.encoder import normalise
    from onboard.samples import load_sample
    from sim.runner import mirror_to_size

    names = args.package or ["hp-rgb-q2"]
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; ONNX Runtime CPU, {args.threads} thread(s), "
          f"tile {args.tile}x{args.tile}, median of {args.runs}")
    print(f"{'package':<14}{'variant':<8}{'median ms':>10}{'p95 ms':>9}{'MAC/px':>9}{'params':>10}{'vs fp32':>9}")
    for name in names:
        pkg = onboard.zoo.resolve(name)
        b = pkg.bands
        img = load_sample("landsat7_rgb")
        if b != 3:
            img = np.repeat(img[:, :, :1], b, axis=2)
        img = mirror_to_size(img, (args.tile, args.tile))
        x = normalise(img, [(int(img[..., i].min()), int(img[..., i].max())) for i in range(b)])
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        res = {}
        for v in ("fp32", "int8"):
            paths = [pkg.onnx_path("g_a", v), pkg.onnx_path("h_a", v)]
            lat = measure_latency(paths, x.shape, runs=args.runs, warmup=3, threads=args.threads)
            ga = analyze_onnx(paths[0], {"x": x.shape})
            y_shape = (1, pkg.latent_channels, args.tile // 16, args.tile // 16)
            ha = analyze_onnx(paths[1], {"y": y_shape})
            macs = (ga.total_macs + ha.total_macs) / (args.tile * args.tile)
            params = ga.params + ha.params
            res[v] = lat
            ratio = res["fp32"].median_s / lat.median_s
            print(f"{pkg.name:<14}{v:<8}{1e3 * lat.median_s:10.1f}{1e3 * lat.p95_s:9.1f}{macs:9.0f}{params:10,d}"
                  f"{ratio:8.2f}x")
        q = quantiser_times(pkg, x, args.runs, args.threads)
        base = res["int8"].median_s
        print(f"{'':<14}quantiser per tile: dead zone {1e3 * q['deadzone']:.1f} ms "
              f"({q['deadzone'] / base:.1%} of int8), "
              f"RD choice {1e3 * q['rd']:.1f} ms ({q['rd'] / base:.1%}); integer h_s indexes "
              f"{1e3 * q['indexes']:.1f} ms ({q['indexes'] / base:.1%}, both quantisers' coder needs them)"
              + ("" if pkg.distortion_per_step is not None else " [package has no distortion weights: dead zone]"))
    return 0


def quantiser_times(pkg, x: np.ndarray, runs: int, threads: int) -> dict[str, float]:
    """Median seconds of the dead-zone rounding, of the RD choice (given the indexes) and of the integer h_s
    indexes, on one tile's latent."""
    import time

    from onboard.encoder import quantise_gained, quantise_latent

    y = pkg.session("g_a", "int8", "cpu", threads).run(None, {"x": x})[0]
    z_hat = np.rint(pkg.session("h_a", "int8", "cpu", threads).run(None, {"y": y})[0]).astype(np.int32)
    yg = y * pkg.gain.reshape(1, -1, 1, 1) if pkg.gain is not None else y
    idx = pkg.hyper_synthesis.indexes(z_hat)
    quantise_gained(pkg, yg, z_hat, indexes=idx)  # compile the kernel
    out = {}
    for key, fn in (("deadzone", lambda: quantise_latent(yg)),
                    ("rd", lambda: quantise_gained(pkg, yg, z_hat, indexes=idx)),
                    ("indexes", lambda: pkg.hyper_synthesis.indexes(z_hat))):
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[key] = float(np.median(ts))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
