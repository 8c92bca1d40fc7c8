"""End-to-end simulation runs on small scenarios with the tiny test package."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ground.decoder import decode_image
from ground.products import read_coded_scene, read_product
from sim.ratecontrol import CapacityForecast, choose_package, scene_budget_bytes
from sim.scenario import ScenarioError, load_scenario, scenario_from_dict


def small_scenario(package_dir, **channel) -> dict:
    return {
        "name": "test", "start": "2026-03-20T00:00:00Z", "duration_hours": 8.0, "seed": 7,
        "satellite": {"altitude_km": 525.0, "inclination_deg": "sso", "raan_deg": 120.0},
        "stations": [{"name": "Svalbard", "lat_deg": 78.23, "lon_deg": 15.39, "alt_m": 500.0}],
        "link": {"frequency_hz": 2.25e9, "eirp_dbw": 3.0, "gt_dbk": 11.0, "symbol_rate_sps": 1e6, "mode": "acm",
                 "modcods": ["QPSK 1/4", "QPSK 1/2", "8PSK 3/4"]},
        "channel": {"mode": "bit-true", **channel},
        "imaging": {"samples": ["ucmerced_harbor60"], "interval_s": 7200.0, "first_offset_s": 60.0,
                    "packages": [str(package_dir)], "tile": 128},
    }


def test_zero_loss_channel_reproduces_the_onboard_bytes(tiny_package, tmp_path):
    import onboard
    from onboard.samples import load_sample

    sc = scenario_from_dict(small_scenario(tiny_package.path))
    s = __import__("sim.runner", fromlist=["run_scenario"]).run_scenario(sc, tmp_path, progress=False)
    assert s["scenes_generated"] == 4 and s["scenes_delivered"] >= 3
    assert s["bytes_lost"] == 0 and s["frames_lost"] == 0 and s["bytes_identity_holds"]
    assert s["bytes_generated"] == s["bytes_delivered"] + s["bytes_queued"] + s["bytes_lost"]
    img = load_sample("ucmerced_harbor60")
    onboard_scene = onboard.encode_image(img, tiny_package, tile=128)
    for rec in s["scenes"]:
        if rec["complete_s"] is None:
            continue
        got = read_coded_scene(tmp_path / rec["product"])
        assert got.chunks == onboard_scene.chunks  # every chunk byte for byte
        prod = read_product(tmp_path / rec["product"])
        assert np.array_equal(prod["reconstruction"], decode_image(onboard_scene, tiny_package))
        assert (prod["chunk_status"] == 0).all() and prod["attrs"]["package_id"] == tiny_package.package_id
        assert "psnr_db" in prod["metrics"]
    for name in ("summary.json", "timeline.csv", "scenes.csv", "passes.png", "data_rate.png", "storage.png",
                 "scenes.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "summary.json").read_text())["passes"] >= 3


def test_lossy_channel_is_accounted_and_retransmits(tiny_package, tmp_path):
    from sim.runner import run_scenario

    d = small_scenario(tiny_package.path, burst_loss_rate=0.3, burst_mean_frames=2.0, residual_ber=1e-5)
    d["imaging"]["interval_s"] = 1200.0
    s = run_scenario(scenario_from_dict(d), tmp_path, progress=False)
    assert s["frames_lost"] > 0 and s["bytes_retransmitted"] > 0
    assert s["bytes_identity_holds"]
    assert s["ground_link_stats"]["rs_corrected_symbols"] > 0  # bit errors really went through the RS decoder


def test_accounting_mode_runs_the_same_scenario(tiny_package, tmp_path):
    from sim.runner import run_scenario

    d = small_scenario(tiny_package.path)
    d["channel"]["mode"] = "accounting"
    s = run_scenario(scenario_from_dict(d), tmp_path, progress=False)
    assert s["scenes_delivered"] >= 3 and s["bytes_identity_holds"] and s["products"] >= 3


def test_rate_control_fits_the_budget():
    fc = CapacityForecast(np.array([0.0, 100.0, 200.0]), np.array([0.0, 0.0, 1000.0]))
    assert fc.bytes_between(0, 150) == pytest.approx(500.0)
    b = scene_budget_bytes(fc, 0.0, 200.0, queued_bytes=200, scenes_in_horizon=2, fill_target=0.8)
    assert b == pytest.approx((800 - 200) / 2)
    sizes = [100, 250, 400, 900]
    assert choose_package(sizes, lambda i: sizes[i], 300.0) == 1
    assert choose_package(sizes, lambda i: sizes[i], 50.0) == 0
    assert choose_package(sizes, lambda i: sizes[i], 5000.0) == 3
    assert choose_package(sizes, lambda i: sizes[i], 50.0, policy="fixed") == 3


def test_bundled_scenarios_load_and_bad_ones_say_why(tmp_path):
    for name in ("cubesat-sband", "cubesat-xband", "eo-sat"):
        assert load_scenario(name).stations
    d = small_scenario("x")
    d["link"]["mode"] = "warp"
    with pytest.raises(ScenarioError, match="mode"):
        scenario_from_dict(d)
    d = small_scenario("x")
    del d["stations"]
    with pytest.raises(ScenarioError, match="stations"):
        scenario_from_dict(d)
    d = small_scenario("x")
    d["imaging"]["colour"] = 1
    with pytest.raises(ScenarioError, match="colour"):
        scenario_from_dict(d)
    d = small_scenario("x")
    d["imaging"]["transfer"] = "gamma"
    with pytest.raises(ScenarioError, match="transfer"):
        scenario_from_dict(d)
    d["imaging"]["transfer"] = 0.8
    assert scenario_from_dict(d).imaging.transfer == 0.8
    with pytest.raises(ScenarioError, match="no such scenario"):
        load_scenario(tmp_path / "missing.toml")
