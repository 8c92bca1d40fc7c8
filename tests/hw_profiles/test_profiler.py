"""The profiler runs end to end on a tiny package; JSON keys and a PNG come out (no timing assertions)."""
from __future__ import annotations

import json

import pytest

from hw_profiles import load_profile
from hw_profiles.onnx_cost import analyze_onnx
from hw_profiles.profiler import profile_package, roofline

from .conftest import small_net


def test_profile_package_json_and_png(tiny_package, tmp_path):
    report = profile_package(tiny_package, "all", tile=(32, 32), runs=3, warmup=1, threads=1,
                             instrument_msps=10.0)
    paths = report.write(tmp_path / "out")
    assert paths["png"].is_file() and paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(paths["json"].read_text())
    for key in ("package", "tile", "bands", "input_shape", "samples_per_tile", "instrument_msps", "runs",
                "threads", "host", "calibration", "method", "variants"):
        assert key in data
    assert data["bands"] == 3 and data["tile"] == [32, 32] and data["samples_per_tile"] == 32 * 32 * 3
    assert [v["variant"] for v in data["variants"]] == ["fp32", "int8"]
    for v in data["variants"]:
        for key in ("models", "totals", "costs", "host_latency", "host_roofline_s", "calibration_factor",
                    "calibration", "targets"):
            assert key in v
        assert v["host_latency"]["runs"] == 3
        assert {"median_s", "p95_s"} <= set(v["host_latency"])
        # encoder = g_a then h_a on g_a's output shape: 32x32 -> 8x8x12 -> 2x2x6
        assert v["costs"][0]["output_shapes"]["y"] == [1, 12, 8, 8]
        assert v["costs"][1]["input_shapes"]["x"] == [1, 12, 8, 8]
        assert {t["profile"] for t in v["targets"]} >= {"host", "jetson_orin_nx_16gb", "kria_k26"}
        for t in v["targets"]:
            for key in ("roofline_latency_s", "latency_s", "images_per_s", "samples_per_s", "real_time_factor",
                        "energy_per_image_j", "power_w", "power_mode", "fits_in_memory", "calibration_factor"):
                assert key in t
            assert t["latency_s"] > 0
            assert t["energy_per_image_j"] == pytest.approx(t["power_w"] * t["latency_s"])
            assert t["real_time_factor"] == pytest.approx(t["samples_per_s"] / 10e6)
    int8 = data["variants"][1]["totals"]
    assert int8["int8_macs"] == int8["total_macs"] == data["variants"][0]["totals"]["total_macs"]
    text = paths["text"].read_text()
    assert "calibration" in text and "jetson_orin_nx_16gb" in text


def test_roofline_uses_int8_peak_for_int8_layers_and_cpu_for_fp32_on_dpu():
    cost = analyze_onnx(small_net(), (1, 3, 32, 32))
    k26 = load_profile("kria_k26")
    est = roofline(cost, k26)
    # fp32 graph on an int8-only DPU: compute time at the A53s' fp32 peak
    expected_compute = (2 * cost.total_macs + cost.total_flops) / (k26.cpu_peak_fp32_gflops * 1e9
                                                                   * k26.compute_efficiency)
    assert est.compute_time_s == pytest.approx(expected_compute)
    assert est.int8_ops == 0 and est.latency_s >= est.compute_time_s * 0.999


def test_cli_profile_command(tiny_package, tmp_path, capsys):
    from tools.cli import main

    rc = main(["profile", "--package", str(tiny_package), "--profile", "raspberry_pi_4,host", "--tile", "32x32",
               "--runs", "3", "--threads", "1", "--variant", "fp32", "--out", str(tmp_path / "cli")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "raspberry_pi_4" in out and (tmp_path / "cli" / "profile.png").is_file()
    rc = main(["profile", "--package", str(tmp_path / "nope"), "--profile", "host"])
    assert rc == 2
    assert "error" in capsys.readouterr().err


def test_profile_a_format2_package_reads_its_shared_store(tmp_path):
    """A format-2 package keeps g_a/h_a in the family's _shared store: the profiler finds them there."""
    pytest.importorskip("torch")
    from tests.conftest import build_tiny_package

    pkg_dir = build_tiny_package(tmp_path / "fam" / "tiny-q0")
    assert not (pkg_dir / "g_a.int8.onnx").exists()
    report = profile_package(pkg_dir, "host", tile=(64, 64), runs=2, warmup=1, threads=1)
    assert [v.variant for v in report.variants] == ["fp32", "int8"] and report.bands == 3
