"""Every shipped profile loads and validates; bad files raise ProfileError naming the file and the field."""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from hw_profiles import ProfileError, available_profiles, load_all, load_profile
from hw_profiles.schema import HardwareProfile

FIXTURES = Path(__file__).parent / "fixtures"
REAL_TARGETS = {"jetson_orin_nx_16gb", "jetson_xavier_nx", "jetson_orin_nano_8gb", "kria_k26", "raspberry_pi_4",
                "myriad_x", "unibap_ix10", "host"}


def test_shipped_profiles_are_the_real_targets():
    assert set(available_profiles()) == REAL_TARGETS


@pytest.mark.parametrize("name", sorted(REAL_TARGETS))
def test_every_shipped_profile_loads_and_validates(name):
    p = load_profile(name)
    assert isinstance(p, HardwareProfile)
    assert p.key == name
    assert p.cpu_cores > 0 and p.threads > 0
    for value in (p.cpu_clock_ghz, p.cpu_peak_fp32_gflops, p.cpu_peak_int8_gops, p.memory_gb,
                  p.memory_bandwidth_gbps, p.peak_fp32_gflops, p.peak_int8_gops, p.default_power_w):
        assert value > 0
    assert 0 < p.compute_efficiency <= 1 and 0 < p.bandwidth_efficiency <= 1
    assert p.default_power_mode in p.power_modes_w
    assert p.onnx_execution_provider.endswith("ExecutionProvider")


@pytest.mark.parametrize("name", sorted(REAL_TARGETS - {"host"}))
def test_every_figure_has_a_source_comment(name):
    """Each numeric line of a real target's TOML carries a comment (its source or its derivation)."""
    text = (resources.files("hw_profiles") / f"{name}.toml").read_text(encoding="utf-8")
    assert re.search(r"^#\s*Sources", text, re.M), "a Sources block heads the file"
    for line in text.splitlines():
        m = re.match(r'^\s*("?[\w.]+"?)\s*=\s*([-0-9.]+)\s*(#.*)?$', line)
        if m and m.group(1) not in ("threads",):
            assert m.group(3), f"{name}.toml: figure without a source comment: {line!r}"


def test_host_profile_is_resolved_on_this_machine():
    host = load_profile("host")
    assert host.cpu_cores >= 1
    for f in ("cpu_cores", "cpu_clock_ghz", "memory_gb", "memory_bandwidth_gbps", "cpu_peak_fp32_gflops"):
        assert f in host.auto_notes


def test_load_all_and_load_by_path():
    allp = load_all()
    assert list(allp) == available_profiles()
    p = load_profile(FIXTURES / "valid_board.toml")
    assert p.key == "valid_board" and p.cpu_clock_ghz == 1.5 and p.default_power_w == 5.0


def test_int8_only_accelerator_falls_back_to_cpu_for_fp32():
    k26 = load_profile("kria_k26")
    assert k26.accelerator is not None and k26.accelerator.peak_fp32_gflops is None
    assert k26.peak_fp32_gflops == k26.cpu_peak_fp32_gflops
    assert k26.peak_int8_gops == k26.accelerator.peak_int8_gops


@pytest.mark.parametrize("fixture, field", [
    ("missing_field.toml", "cpu_clock_ghz"),
    ("negative_clock.toml", "cpu_clock_ghz"),
    ("unknown_power_mode.toml", "default_power_mode"),
    ("wrong_type.toml", "cpu_cores"),
])
def test_bad_fixture_raises_profile_error_naming_field(fixture, field):
    with pytest.raises(ProfileError) as info:
        load_profile(FIXTURES / fixture)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.field == field
    assert field in str(err) and fixture in str(err)


def test_unknown_profile_name_lists_available():
    with pytest.raises(ProfileError, match="jetson_orin_nx_16gb"):
        load_profile("no_such_board")


def test_fixtures_are_not_package_data():
    assert not any("fixture" in n or n.endswith(("field", "clock", "type")) for n in available_profiles())
