"""Distortion weights of a model package: what one step of each latent channel costs in squared error.

The encoder's RD quantiser (:mod:`onboard.rd_quantise`) needs, per gained latent channel ``c``, the squared
error ``d_c`` that moving one value of that channel by one step adds to the decoded image. It depends on
``g_s`` (channels differ by orders of magnitude) and on the rate point's gain, so it is measured once per
package, here, with the package's own fp32 ``g_s`` in ONNX Runtime, and stored in the manifest
(``encoder.distortion_per_step``; it changes the package id like any other content). Onboard the encoder only
reads the numbers.

Measurement: the bundled Landsat 7 sample (the central 256 x 256 crop; its bands cycled to the package's
input bands, their mean for a one-band package) goes through ``g_a``, is quantised at the package's gain and
decoded by ``g_s`` as the operating point; then, channel by channel, every value on a grid of latent
positions ``spacing`` apart is moved one step up (and, in a second batch item, one step down) and the squared
error against the operating point's output, summed over all output samples, is averaged over positions and
signs. Positions ``spacing`` latent units apart do not share output pixels (a latent value of this
architecture reaches about 5 latent units, 75 pixels, of output), so one ``g_s`` run measures them all.

``python -m onboard.models.distortion PACKAGE_DIR...`` adds the weights to exported packages (rewrites their
manifests, so their ids change).

Example:
    >>> from onboard.zoo import load
    >>> d = measure_distortion_per_step(load("hp-rgb-q2"))          # doctest: +SKIP
    >>> d.shape                                                     # doctest: +SKIP
    (192,)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DEFAULT_CROP = 256
DEFAULT_SPACING = 6
SAMPLE = "landsat7_rgb"


def measurement_input(bands: int, crop: int = DEFAULT_CROP) -> np.ndarray:
    """(1, bands, crop, crop) float32 in [0, 1]: the central crop of the bundled sample with its bands cycled
    to ``bands`` (their mean for ``bands == 1``)."""
    from onboard.samples import load_sample

    img = load_sample(SAMPLE)
    if img.ndim == 2:
        img = img[:, :, None]
    h, w = img.shape[:2]
    if h < crop or w < crop:
        raise ValueError(f"sample {SAMPLE} is {h}x{w}, smaller than the {crop}-pixel crop")
    y0, x0 = (h - crop) // 2, (w - crop) // 2
    tile = img[y0:y0 + crop, x0:x0 + crop].astype(np.float32) / float(np.iinfo(img.dtype).max)
    planes = tile.transpose(2, 0, 1)
    if bands == 1:
        return np.ascontiguousarray(planes.mean(axis=0)[None, None], dtype=np.float32)
    return np.ascontiguousarray(planes[np.arange(bands) % planes.shape[0]][None])


def measure_distortion_per_step(package, x: np.ndarray | None = None, spacing: int = DEFAULT_SPACING,
                                threads: int | None = None) -> np.ndarray:
    """``d_c`` (float64, (M,)) of ``package`` (module docstring); ``x`` (N, bands, H, W) float32 overrides the
    sample input (H, W multiples of 64). A format-1 package's graphs carry its gain (``g_a`` gives the gained
    latent, ``g_s`` takes it), a format-2 package's gain is applied here as the runtime does."""
    if x is None:
        x = measurement_input(package.cluster_bands or package.bands)
    if spacing < 1:
        raise ValueError(f"spacing must be >= 1, got {spacing}")
    g_a = package.session("g_a", "fp32", "cpu", threads)
    g_s = package.session("g_s", "fp32", "cpu", threads)
    if package.gain is None:  # format 1
        gain = inv = np.ones((1, package.latent_channels, 1, 1), dtype=np.float32)
    else:
        gain = package.gain.reshape(1, -1, 1, 1)
        inv = package.inverse_gain.reshape(1, -1, 1, 1)
    q = np.rint(g_a.run(None, {"x": x})[0] * gain)
    n, m, h, w = q.shape
    rows = np.arange(spacing // 2, h, spacing)
    cols = np.arange(spacing // 2, w, spacing)
    if rows.size == 0 or cols.size == 0:
        raise ValueError(f"a {h}x{w} latent has no positions {spacing} apart")
    base = g_s.run(None, {"y_hat": (q * inv).astype(np.float32)})[0].astype(np.float64)
    grid = np.zeros((h, w), dtype=np.float64)
    grid[np.ix_(rows, cols)] = 1.0
    q2, base2 = np.concatenate([q, q]), np.concatenate([base, base])  # items: n steps up, then n steps down
    d = np.zeros(m, dtype=np.float64)
    for c in range(m):
        batch = q2.copy()
        batch[:n, c] += grid
        batch[n:, c] -= grid
        out = g_s.run(None, {"y_hat": (batch * inv).astype(np.float32)})[0].astype(np.float64)
        d[c] = np.sum((out - base2) ** 2) / (2 * n * rows.size * cols.size)
    return np.maximum(d, np.finfo(np.float64).tiny)


def add_distortion_weights(package_dir: str | Path, spacing: int = DEFAULT_SPACING,
                           threads: int | None = None) -> str:
    """Measure ``package_dir``'s distortion weights (loading it verifies its files) and write them into its
    manifest (``encoder`` field); return the new package id. The files do not change; the id does (it covers
    the manifest)."""
    from onboard.package import load_package, read_manifest, rewrite_manifest

    pkg = load_package(package_dir)
    d = measure_distortion_per_step(pkg, spacing=spacing, threads=threads)
    manifest = read_manifest(Path(package_dir))
    manifest["encoder"] = {
        "distortion_per_step": [float(v) for v in d],
        "measured": f"fp32 g_s, sample {SAMPLE} {DEFAULT_CROP}x{DEFAULT_CROP}, +-1 step at latent positions "
                    f"{spacing} apart",
    }
    return rewrite_manifest(Path(package_dir), manifest)["package_id"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m onboard.models.distortion",
                                 description="add RD-quantiser distortion weights to exported model packages "
                                             "(rewrites each manifest: the package id changes)")
    ap.add_argument("packages", nargs="+", help="package directories")
    ap.add_argument("--spacing", type=int, default=DEFAULT_SPACING)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    for p in args.packages:
        pid = add_distortion_weights(p, spacing=args.spacing, threads=args.threads)
        print(f"{p}: id {pid[:16]}...")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
