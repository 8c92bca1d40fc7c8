"""Where a KLT-coded cube's rate and error go, component by component, against JPEG 2000 on the same plane.

A diagnostic for the spectral KLT packages (``cc-klt``): it encodes a cube with the onboard encoder, decodes it on
the ground path, and for every kept component ``k`` reports

- ``octets``: the payload of that component's chunks (all tiles; chunk records and the scene header aside),
- ``learned dB``: PSNR (peak 1) of the decoded component plane against the plane the encoder coded (``u_k`` in
  [0, 1], :meth:`onboard.spectral.SpectralKLT.forward` of the cube and of the decoded cube),
- ``share``: the component's part of the cube's squared error; what the kept components do not hold (the
  truncation, plus rounding and clipping to the data's range) is the last row,
- ``j2k dB``: OpenJPEG (imagecodecs, raw codestream) on the same plane as 16-bit grey, the best quality whose
  codestream fits the same octets (its own headers included).

When the strong components lose to JPEG 2000 at equal octets, the learned transform (not the KLT, the table or
the entropy model) is what the cube loses on: on the Jasper Ridge development cube at ``cc-klt-q7`` (as shipped
at 0437889) the first component took 3661 octets for 39.7 dB where JPEG 2000 reaches 48.6 dB in as many.

Example::

    python -m tools.klt_components --package cc-klt-q7 ../shared/data/hsi/jasper_ridge_aviris.npz
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ComponentRow:
    """One kept component: its chunks' payload octets, the learned and JPEG 2000 PSNR (dB, peak 1) of its
    plane, and its share of the cube's squared error (0..1)."""

    component: int
    octets: int
    learned_psnr_db: float
    j2k_psnr_db: float
    error_share: float


@dataclass(frozen=True)
class ComponentReport:
    """:func:`component_report`'s result: one row per kept component, the rest of the error (truncation,
    rounding, clipping) as a share, the whole container's octets and the cube's PSNR (dB, declared peak)."""

    rows: tuple[ComponentRow, ...]
    rest_share: float
    container_octets: int
    cube_psnr_db: float

    def table(self) -> str:
        lines = [f"container {self.container_octets} octets, cube PSNR {self.cube_psnr_db:.2f} dB",
                 "comp  octets  learned dB  j2k dB  error share"]
        for r in self.rows:
            lines.append(f"{r.component:4d} {r.octets:7d} {r.learned_psnr_db:10.2f} {r.j2k_psnr_db:7.2f} "
                         f"{100 * r.error_share:10.1f} %")
        lines.append(f"rest (truncation, rounding, clipping)       {100 * self.rest_share:10.1f} %")
        return "\n".join(lines)


def _psnr01(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10.0 * math.log10(1.0 / max(mse, 1e-20))


def j2k_plane_psnr(plane: np.ndarray, budget_octets: int) -> float:
    """PSNR (dB, peak 1) of OpenJPEG on ``plane`` (float in [0, 1], stored as 16-bit grey) at the best quality
    whose codestream fits ``budget_octets`` (the smallest codestream tried when none fits).

    >>> p = np.tile(np.linspace(0.2, 0.8, 64), (64, 1))
    >>> j2k_plane_psnr(p, 400) > j2k_plane_psnr(p, 150)
    True
    """
    from tools.baselines import _bisect_level, j2k_codestream

    q = np.clip(np.rint(plane * 65535.0), 0, 65535).astype(np.uint16)
    _, dec = _bisect_level(lambda level: j2k_codestream(q, level, mct=False), float(budget_octets))
    return _psnr01(dec.astype(np.float64) / 65535.0, plane)


def component_report(cube: np.ndarray, package, precision: str = "int8") -> ComponentReport:
    """Encode ``cube`` ((H, W, C) uint8/uint16/int16) with the KLT ``package`` (B = 1), decode it, and compare
    each kept component with JPEG 2000 at its own octets. Returns a :class:`ComponentReport`."""
    import ground
    import onboard

    if package.cluster_bands != 1 or package.architecture.get("spectral") != "klt":
        raise ValueError(f"{package.name} is not a KLT package with B = 1")
    coded = onboard.encode_image(cube, package, precision=precision)
    data = coded.to_bytes()
    decoded = ground.decode_image(data, package)
    header = coded.header
    klt = header.spectral
    k = klt.n_components
    u = klt.forward(cube)
    u_hat = klt.forward(decoded)
    octets = np.zeros(k, np.int64)
    for chunk in coded.chunks:
        octets[header.chunk_position(chunk.index)[2]] += len(chunk.payload)
    err = (decoded.astype(np.float64) - cube.astype(np.float64)).reshape(-1, cube.shape[2])
    total = float(np.sum(err ** 2))
    basis = klt.basis_q.astype(np.float64) * klt.basis_step.astype(np.float64)
    q, _ = np.linalg.qr(basis)
    inside = float(np.sum((err @ q) ** 2))
    # component coordinates of the error inside the kept subspace; the sent basis is orthonormal up to its int8
    # steps, so each component's energy is its coordinate's energy times its vector's norm (rescaled to sum
    # exactly to the error inside the subspace)
    coords = err @ np.linalg.pinv(basis).T
    per_comp = np.sum(coords ** 2, axis=0) * np.sum(basis ** 2, axis=0)
    per_comp *= inside / max(float(per_comp.sum()), 1e-30)
    rows = tuple(ComponentRow(j, int(octets[j]), _psnr01(u_hat[:, :, j], u[:, :, j]),
                              j2k_plane_psnr(u[:, :, j], int(octets[j])), float(per_comp[j]) / max(total, 1e-30))
                 for j in range(k))
    peak = float(2 ** header.bit_depth - 1)
    cube_psnr = 10.0 * math.log10(peak ** 2 / max(total / err.size, 1e-20))
    return ComponentReport(rows, 1.0 - inside / max(total, 1e-30), len(data), cube_psnr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--package", required=True, help="a KLT package name or folder, e.g. cc-klt-q7")
    p.add_argument("--precision", default="int8", choices=("int8", "fp32"))
    p.add_argument("cubes", nargs="+", help=".npz (key data) / .npy / multi-band TIFF cubes")
    args = p.parse_args(argv)

    from onboard.imageio import read_array
    from onboard.zoo import resolve

    package = resolve(args.package)
    for path in args.cubes:
        report = component_report(read_array(path), package, args.precision)
        print(f"{path} with {package.name} ({args.precision})")
        print(report.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
