"""Shared fixtures: tiny model packages exported from untrained small networks (seconds, no training).

They exercise every mechanism of the codec (export, int8 quantization, integer h_s, tables, container,
bit-exact decode) without the cost of the shipped packages; quality tests use the shipped zoo instead.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def tiny_images(bands: int, seed: int) -> list[np.ndarray]:
    """Two smooth random 128 x 128 images (a gradient plus noise, like real data in range and texture): what
    the tiny packages are calibrated on (``calibration_crops(tiny_images(bands, seed), 4, 64, seed=seed)``)."""
    rng = np.random.default_rng(seed)
    imgs = []
    for _ in range(2):
        yy, xx = np.mgrid[0:128, 0:128]
        base = (yy + xx)[:, :, None] * (1 + np.arange(bands))[None, None, :] % 256
        imgs.append(np.clip(base + rng.normal(0, 8, (128, 128, bands)), 0, 255).astype(np.uint8))
    return imgs


def tiny_model(bands: int = 3, seed: int = 0, lambdas: tuple[float, ...] = (0.01,), n_s: int | None = None,
               spectral: str = "none", n_a: int | None = None):
    """A tiny untrained ScaleHyperprior with large gains (its untrained latents then carry real information:
    bytes, not zeros) and its integer h_s calibrated on crops of :func:`tiny_images`; returns (model, crops),
    ready for export."""
    torch = pytest.importorskip("torch")
    from onboard.models.int8 import calibration_crops
    from onboard.models.hyperprior import HyperpriorConfig, ScaleHyperprior

    torch.manual_seed(seed)
    model = ScaleHyperprior(HyperpriorConfig(bands=bands, n=8, m=12, nz=8, lambdas=tuple(lambdas), n_s=n_s,
                                              spectral=spectral, n_a=n_a))
    with torch.no_grad():
        model.log_gain.add_(3.0)
    crops = calibration_crops(tiny_images(bands, seed), 4, 64, seed=seed)
    model.h_s.set_mode(quantize=False, calibrate=True)
    with torch.no_grad():
        for x in crops:
            model(torch.from_numpy(x), 0)
    model.h_s.set_mode(quantize=False, calibrate=False)
    return model, crops


def build_tiny_package(out: Path, bands: int = 3, cluster_bands: int | None = None, seed: int = 0,
                       name: str = "tiny-q0", n_s: int | None = None, spectral: str = "none",
                       lambdas: tuple[float, ...] = (0.01,), family: bool = False, n_a: int | None = None):
    """Export a tiny untrained model to ``out`` (its shared files to ``out.parent/_shared``). With
    ``family=True`` every rate point of ``lambdas`` is exported as ``<name>-q<r>`` beside ``out`` and the list
    of paths is returned."""
    from onboard.models.export import export_family, export_package

    model, crops = tiny_model(bands, seed, lambdas, n_s=n_s, spectral=spectral, n_a=n_a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family:
            rates = list(range(len(lambdas)))
            return export_family(model, rates, Path(out).parent, crops, [f"{name}-q{r}" for r in rates],
                                 cluster_bands=cluster_bands, training={"note": "untrained tiny test package"},
                                 overwrite=True)
        return export_package(model, 0, out, crops, name=name, cluster_bands=cluster_bands,
                              training={"note": "untrained tiny test package"})


def build_format1_package(out: Path, bands: int = 3, seed: int = 0, name: str = "tiny1f-q0",
                          cluster_bands: int | None = None) -> Path:
    """Write the tiny model of :func:`tiny_model` as a **format-1** package in ``out`` (every file its own, the
    rate point's gain folded into g_a, h_a and g_s, the thresholds inside ``h_s.int.npz`` / ``h_s.int.onnx``):
    what packages exported before format 2 look like. The exporter writes format 2 only and the zoo ships
    format 2 only, so this is what keeps the reader of format 1 tested."""
    from onboard.container import BITSTREAM_VERSION
    from onboard.entropy import default_scale_table
    from onboard.models.export import write_model_files
    from onboard.package import write_manifest

    model, crops = tiny_model(bands, seed)
    model.eval()
    c = model.config
    out = Path(out)
    out.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z_info, _ = write_model_files(model, out, crops, 0, int8_float_convs=1, fold_rate=True)
    write_manifest(out, {
        "name": name, "bitstream_version": BITSTREAM_VERSION,
        "architecture": {"type": "scale_hyperprior", "bands": c.bands, "n": c.n, "m": c.m, "nz": c.nz,
                         "cluster_bands": cluster_bands, "latent_stride": 16, "hyper_stride": 4},
        "rate": {"index": 0, "lambda": float(c.lambdas[0])},
        "scale_table": [float(s) for s in default_scale_table()],
        "z_tables": z_info, "training": {"note": "untrained tiny test package, format 1"}}, format_version=1)
    return out


@pytest.fixture(scope="session")
def tiny_format1_package(tmp_path_factory):
    from onboard.package import load_package

    return load_package(build_format1_package(tmp_path_factory.mktemp("pkgv1") / "tiny1f-q0"))


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory):
    from onboard.package import load_package

    return load_package(build_tiny_package(tmp_path_factory.mktemp("pkg") / "tiny-q0"))


@pytest.fixture(scope="session")
def tiny_package_1band(tmp_path_factory):
    from onboard.package import load_package

    return load_package(build_tiny_package(tmp_path_factory.mktemp("pkg1") / "tiny1-q0", bands=1, seed=1,
                                           name="tiny1-q0"))


@pytest.fixture(scope="session")
def tiny_clustered_package(tmp_path_factory):
    from onboard.package import load_package

    return load_package(build_tiny_package(tmp_path_factory.mktemp("pkgc") / "tinyc-q0", bands=4, cluster_bands=4,
                                           seed=2, name="tinyc-q0"))


@pytest.fixture(scope="session")
def tiny_klt_package(tmp_path_factory):
    """A clustered B = 1 package whose manifest says it codes spectral KLT components."""
    from onboard.package import load_package

    return load_package(build_tiny_package(tmp_path_factory.mktemp("pkgk") / "tinyk-q0", bands=1, cluster_bands=1,
                                           seed=3, name="tinyk-q0", spectral="klt"))


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent")
    return SHARED_DATA
