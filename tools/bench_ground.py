"""Ground decoder throughput: decoded megapixels per second, per stage, local (1 and N threads) and on a Dask
cluster of 2 worker processes, on a scene of at least 4 megapixels.

The scene is the bundled Landsat 7 sample mirror-extended to the requested size, encoded with a zoo package,
turned into a recording (CADUs), and decoded from the recording to an HDF5 product (recovery, entropy
decoding, hyper-synthesis, synthesis, stitching, writing), median of ``--repeat`` runs. The anchor is the same
decode on 1 thread: the speed-up is the ratio. Products from every configuration are compared bit for bit.

    python tools/bench_ground.py [--package hp-rgb-q2] [--size 2048] [--repeat 3]

``--package`` takes a zoo name or a package folder (e.g. a family written by ``satcomp finetune-decoder`` before it
is shipped, to measure what a wider ground decoder costs).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", default="hp-rgb-q2", help="zoo name or package folder")
    ap.add_argument("--size", type=int, default=2048, help="scene side in pixels (2048 -> 4.2 MP)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args(argv)

    import onboard
    from ground.pipeline import decode_recordings
    from ground.products import read_product
    from onboard.samples import load_sample
    from sim.runner import mirror_to_size

    pkg = onboard.zoo.resolve(args.package)
    extra = (pkg.path,)  # the ground finds the package by id there (a zoo package is found either way)
    img = mirror_to_size(load_sample("landsat7_rgb"), (args.size, args.size))
    mp = img.shape[0] * img.shape[1] / 1e6
    t = time.perf_counter()
    coded = onboard.encode_image(img, pkg)
    enc_s = time.perf_counter() - t
    frames = onboard.packets.downlink_frames(coded)
    print(f"scene {img.shape} = {mp:.2f} MP, package {pkg.name}, {coded.nbytes} octets "
          f"({8 * coded.nbytes / img.shape[0] / img.shape[1]:.3f} bpp), {coded.header.n_chunks} chunks, "
          f"{len(frames)} CADUs; encode {enc_s:.1f} s; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    tmp = Path(tempfile.mkdtemp())
    rec = tmp / "rec.bin"
    rec.write_bytes(b"".join(frames))

    def run(label, **kw):
        walls, stages = [], []
        for r in range(args.repeat):
            out = tmp / f"{label}-{r}"
            t0 = time.perf_counter()
            rep = decode_recordings([rec], out, packages=extra, **kw)
            walls.append(time.perf_counter() - t0)
            stages.append(rep.timings_s)
            assert rep.ok, rep.problems
        med = statistics.median(walls)
        st = {k: statistics.median(s.get(k, 0.0) for s in stages) for k in stages[0]}
        return med, st, out

    results = {}
    results["local, 1 thread"] = run("l1", workers=1)
    results[f"local, {args.workers} threads"] = run("l2", workers=args.workers)
    if not args.no_dask:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1", processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            # the workers load their numba caches and sessions
            decode_recordings([rec], tmp / "warm", packages=extra, client=client)
            results[f"dask, {args.workers} workers"] = run("d2", client=client)
    base = results["local, 1 thread"][0]
    ref = read_product(results["local, 1 thread"][2] / "scene_00000000.h5")["reconstruction"]
    print(f"\n{'configuration':<22}{'wall s':>8}{'MP/s':>8}{'speed-up':>10}  same pixels")
    for name, (wall, _st, out) in results.items():
        same = np.array_equal(read_product(out / "scene_00000000.h5")["reconstruction"], ref)
        print(f"{name:<22}{wall:8.2f}{mp / wall:8.2f}{base / wall:9.2f}x  {same}")
    print("\nper-stage seconds (median; for Dask, summed over tasks)")
    keys = list(next(iter(results.values()))[1])
    print(f"{'stage':<18}" + "".join(f"{n[:20]:>22}" for n in results))
    for k in keys:
        print(f"{k:<18}" + "".join(f"{r[1].get(k, 0.0):22.3f}" for r in results.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
