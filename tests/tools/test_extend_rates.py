"""Rate points under a family's lowest: the gain continues the family's log steps, the thresholds are the ones
the exporter itself writes for that gain (oracle: integer_hs_from_model; rarely one unit off at tens of
millions), the points decode with the family's own graphs and code at lower rates."""
from __future__ import annotations

import doctest
import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ground  # noqa: E402
import onboard  # noqa: E402
import tools.extend_rates  # noqa: E402
from onboard.package import load_package  # noqa: E402
from tests.conftest import tiny_images, tiny_model  # noqa: E402
from tools.extend_rates import (  # noqa: E402
    ExtrapolationError, extend_family, extrapolated_gain, main, threshold_scale,
)


@pytest.fixture(scope="module")
def family_and_model(tmp_path_factory):
    """A 3-rate tiny family whose channels step their gains unequally (as trained families do), and its model."""
    from onboard.models.export import export_family

    root = tmp_path_factory.mktemp("ext")
    model, crops = tiny_model(3, 3, (0.005, 0.01, 0.02))
    rng = np.random.default_rng(3)
    with torch.no_grad():  # (the h_s calibration does not depend on the gains)
        step = torch.from_numpy(rng.uniform(0.2, 0.4, 12).astype(np.float32))
        base = torch.from_numpy(rng.uniform(2.5, 3.5, 12).astype(np.float32))
        for r in range(3):
            model.log_gain[r].copy_(base + r * step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = export_family(model, [0, 1, 2], root, crops, [f"tinyx-q{r}" for r in range(3)], overwrite=True)
    return [str(p) for p in paths], model


def test_new_points_carry_the_thresholds_the_exporter_writes_for_their_gain(family_and_model, tmp_path):
    from onboard.entropy import default_scale_table
    from onboard.models.export import integer_hs_from_model

    family, model = family_and_model
    out = extend_family(family, 2, tmp_path / "zoo")
    assert [p.name for p in out] == ["tinyx-qm1", "tinyx-qm2"]
    q0, q2 = load_package(family[0]), load_package(family[2])
    for k, path in enumerate(out, start=1):
        pkg = load_package(path)
        np.testing.assert_allclose(pkg.gain, extrapolated_gain(q0.gain, q2.gain, k))
        # the oracle: the exporter's own thresholds for exactly this gain (a log_gain row cannot hold it exactly)
        model.gain = lambda r, g=torch.from_numpy(pkg.gain.copy()): g.view(1, -1, 1, 1)
        try:
            expected = integer_hs_from_model(model, 0, default_scale_table()).thresholds
        finally:
            del model.gain
        diff = pkg.hyper_synthesis.thresholds - expected
        # the recovered scales are known to ~1e-7: a threshold of tens of millions may land one unit off (the
        # package's own thresholds are what both ends read, so bit-exactness is untouched)
        assert np.abs(diff).max() <= 1 and np.count_nonzero(diff) <= 0.01 * diff.size
        rate = pkg.manifest["rate"]
        assert rate["index"] == -k and rate["lambda"] == pytest.approx(0.005 * 0.5 ** k, rel=1e-6)
        assert set(rate["extrapolated"]["from"].values()) == {q0.package_id, q2.package_id}
        assert pkg.distortion_per_step is not None  # measured for its own gain
        assert pkg.manifest["files"]["g_s.fp32.onnx"] == q0.manifest["files"]["g_s.fp32.onnx"]
    img = tiny_images(3, seed=21)[0]
    octets = []
    for path in [out[1], out[0], family[0]]:
        pkg = load_package(path)
        data = onboard.encode_image(img, pkg).to_bytes()
        assert ground.decode_scene(data, pkg).lost_chunks == []
        assert ground.decode_image(data, pkg).shape == img.shape
        octets.append(len(data))
    assert octets[0] <= octets[1] <= octets[2] and octets[0] < octets[2]  # qm2 <= qm1 <= q0


def test_the_recovered_scales_give_back_every_source_threshold(family_and_model):
    family, _ = family_and_model
    pkgs = [load_package(p) for p in family]
    s = threshold_scale(pkgs)
    assert s.shape == (12,) and np.all(s > 0)
    broken = load_package(family[1])
    broken.hyper_synthesis.thresholds[0, 0] += 5  # (cached) no scale explains this one any more
    with pytest.raises(ExtrapolationError):
        threshold_scale([pkgs[0], broken, pkgs[2]])


def test_what_cannot_be_extended_is_refused_with_its_reason(family_and_model, tiny_package, tmp_path, capsys):
    family, _ = family_and_model
    with pytest.raises(ExtrapolationError, match="rate points 0 and 2"):
        extend_family(family[:2], 1, tmp_path / "a")
    with pytest.raises(ExtrapolationError, match="not one family"):
        extend_family([family[0], str(tiny_package.path)], 1, tmp_path / "b")
    with pytest.raises(ValueError, match="below"):
        extend_family(family, 0, tmp_path / "c")
    extend_family(family, 1, tmp_path / "d", distortion_weights=False)
    with pytest.raises(FileExistsError):
        extend_family(family, 1, tmp_path / "d")
    assert main(["--packages", *family[:2], "--below", "1", "--out", str(tmp_path / "e")]) == 2
    assert "rate points 0 and 2" in capsys.readouterr().err
    assert main(["--packages", "no-such-package", "--out", str(tmp_path / "f")]) == 2
    assert "PackageNotFoundError" in capsys.readouterr().err


def test_docstring_examples():
    assert doctest.testmod(tools.extend_rates).failed == 0


def test_points_above_the_highest_continue_its_top_step_and_code_at_higher_rates(family_and_model, tmp_path):
    family, _ = family_and_model
    out = extend_family(family, 0, tmp_path / "hi", above=2)
    assert [p.name for p in out] == ["tinyx-q3", "tinyx-q4"]
    q0, q2 = load_package(family[0]), load_package(family[2])
    img = tiny_images(3, seed=22)[0]
    octets = [len(onboard.encode_image(img, q2).to_bytes())]
    for k, path in enumerate(out, start=1):
        pkg = load_package(path)
        # continuing q0 -> q2 upwards: log gain_{2+k} = log gain_2 + k * (log gain_2 - log gain_0) / 2
        expected = np.exp(np.log(q2.gain.astype(np.float64)) + k * (np.log(q2.gain / q0.gain.astype(np.float64))) / 2)
        np.testing.assert_allclose(pkg.gain, expected, rtol=1e-6)
        rate = pkg.manifest["rate"]
        assert rate["index"] == 2 + k and rate["lambda"] == pytest.approx(0.02 * 2.0 ** k, rel=1e-6)
        assert "q0 -> q2" in rate["extrapolated"]["method"] and "log gain(q2) +" in rate["extrapolated"]["method"]
        data = onboard.encode_image(img, pkg).to_bytes()
        assert ground.decode_scene(data, pkg).lost_chunks == []
        octets.append(len(data))
    assert octets[0] < octets[1] < octets[2]
    names = [p.name for p in extend_family(family, 1, tmp_path / "both", above=1, distortion_weights=False)]
    assert names == ["tinyx-qm1", "tinyx-q3"]
    assert main(["--packages", *family, "--above", "1", "--out", str(tmp_path / "cli")]) == 0  # no qm by default
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["_shared", "tinyx-q3"]
    with pytest.raises(ExtrapolationError, match="under its highest"):
        extend_family(family[1:], 0, tmp_path / "no", above=1)  # q1, q2: no q0 two steps under the top


def test_the_recorded_method_is_json(family_and_model, tmp_path):
    family, _ = family_and_model
    path = extend_family(family, 1, tmp_path / "z", distortion_weights=False)[0]
    rec = json.loads((path / "manifest.json").read_text())["rate"]["extrapolated"]
    assert "q0 -> q2" in rec["method"]


def test_new_points_take_the_ground_decoder_of_the_end_they_continue(family_and_model, image_folder, tmp_path):
    """A family whose top point has its own fine-tuned g_s (two decoder groups): a point under q0 decodes with
    q0's g_s, a point over the top with the top's."""
    from tests.tools.conftest import split_top_group
    from tools.finetune_decoder import DECODER_FILE

    family, _ = family_and_model
    copies = split_top_group(family, tmp_path / "zoo", image_folder, tmp_path / "top", top=2)
    q0, q2 = load_package(copies[0]), load_package(copies[2])
    assert q0.manifest["files"][DECODER_FILE] != q2.manifest["files"][DECODER_FILE]
    below, above = (load_package(p) for p in extend_family(copies, 1, tmp_path / "new", above=1))
    assert below.manifest["files"][DECODER_FILE] == q0.manifest["files"][DECODER_FILE]
    assert above.manifest["files"][DECODER_FILE] == q2.manifest["files"][DECODER_FILE]
    assert above.manifest["training"]["decoder_finetune"]["source_id"] == load_package(family[2]).package_id
    img = tiny_images(3, seed=4)[0]
    for pkg in (below, above):
        assert ground.decode_image(onboard.encode_image(img, pkg).to_bytes(), pkg).shape == img.shape
