"""The per-component KLT diagnostic: its octets and error shares add up to what the container and the decoded cube
hold, its learned PSNR is the decoded plane's, and it refuses packages that do not code KLT components."""
import doctest
import importlib
import math

import numpy as np
import pytest

import ground
import onboard
from onboard.samples import load_sample
from onboard.zoo import load
from tools.klt_components import component_report, main


@pytest.fixture(scope="module")
def cube():
    return load_sample("aviris_jasper_32x32x198")


def test_report_adds_up_to_the_container_and_the_decoded_cube(cube):
    package = load("cc-klt-q3")
    report = component_report(cube, package)
    coded = onboard.encode_image(cube, package)
    data = coded.to_bytes()
    assert report.container_octets == len(data)
    assert len(report.rows) == coded.header.spectral.n_components
    assert sum(r.octets for r in report.rows) == sum(len(c.payload) for c in coded.chunks)
    assert all(r.error_share >= 0 for r in report.rows) and 0 <= report.rest_share <= 1
    assert math.isclose(sum(r.error_share for r in report.rows) + report.rest_share, 1.0, abs_tol=1e-9)
    decoded = ground.decode_image(data, package)
    klt = coded.header.spectral
    u, u_hat = klt.forward(cube), klt.forward(decoded)
    first = 10 * np.log10(1 / np.mean((u[:, :, 0] - u_hat[:, :, 0]) ** 2))
    assert report.rows[0].learned_psnr_db == pytest.approx(first, abs=1e-9)
    peak = 2 ** coded.header.bit_depth - 1
    mse = np.mean((decoded.astype(np.float64) - cube) ** 2)
    assert report.cube_psnr_db == pytest.approx(10 * np.log10(peak ** 2 / mse), abs=1e-9)
    assert all(np.isfinite(r.j2k_psnr_db) for r in report.rows)


def test_a_package_without_klt_components_is_refused(cube):
    with pytest.raises(ValueError, match="not a KLT package"):
        component_report(cube, load("cc-b3-q0"))


def test_cli_prints_one_row_per_component(tmp_path, cube, capsys):
    path = tmp_path / "cube.npz"
    np.savez(path, data=cube)
    assert main(["--package", "cc-klt-q0", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cube PSNR" in out and "rest (truncation" in out


def test_module_doctests():
    result = doctest.testmod(importlib.import_module("tools.klt_components"))
    assert result.attempted >= 1 and result.failed == 0
