"""satcomp requantize: int8 encoder graphs rebuilt from a package's fp32 graphs, without its checkpoint."""
from __future__ import annotations

import warnings

import onnx
import pytest
from PIL import Image

import ground
import onboard
from ground.verify import verify_variant
from onboard.errors import PackageMismatchError
from onboard.models.int8 import calibration_crops
from onboard.package import load_package
from tests.conftest import build_tiny_package, tiny_images
from tools.cli import main as satcomp
from tools.requantize import requantize_family

GROUND_FILES = ("g_s.fp32.onnx", "h_s.int.onnx", "h_s.int.npz", "y_tables.bin", "z_tables.bin", "rate.npz",
                "g_a.fp32.onnx", "h_a.fp32.onnx")


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    root = tmp_path_factory.mktemp("fam")
    paths = build_tiny_package(root / "tiny-q0", lambdas=(0.01, 0.02), family=True, seed=5, name="tiny")
    return [load_package(p) for p in paths], calibration_crops(tiny_images(3, 5), 4, 64, seed=5)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_same_crops_and_depth_rebuild_the_exported_g_a_byte_for_byte(family, tmp_path):
    pkgs, crops = family
    new = [load_package(p) for p in _quiet(requantize_family, pkgs, tmp_path, crops, 1, "same", keep_h_a=True)]
    for old, pkg in zip(pkgs, new):
        assert pkg.manifest["files"] == old.manifest["files"]  # every file identical, g_a int8 included
        assert pkg.package_id != old.package_id  # the manifest records the requantization
        assert pkg.manifest["training"]["requantized_from"] == old.package_id
    assert len(list((tmp_path / "_shared").iterdir())) == len(pkgs[0].manifest["files"]) - 1  # rate.npz own


def test_depth_two_changes_only_the_onboard_graphs(family, tmp_path):
    pkgs, crops = family
    new = [load_package(p) for p in _quiet(requantize_family, pkgs, tmp_path, crops, 2)]
    for old, pkg in zip(pkgs, new):
        for name in GROUND_FILES:
            assert pkg.manifest["files"][name] == old.manifest["files"][name], name
        assert pkg.manifest["files"]["g_a.int8.onnx"] != old.manifest["files"]["g_a.int8.onnx"]
        assert pkg.manifest["architecture"]["int8_float_convs"] == 2

    def float_convs(p):  # convs whose weight is not dequantized from int8
        g = onnx.load(str(p.file_path("g_a.int8.onnx"))).graph
        deq = {o for n in g.node if n.op_type == "DequantizeLinear" for o in n.output}
        return sum(n.op_type == "Conv" and n.input[1] not in deq for n in g.node)

    assert float_convs(pkgs[0]) == 1 and float_convs(new[0]) == 2
    img = tiny_images(3, 9)[0]
    rep = verify_variant(img, new[1], "int8", tile=64)  # the ground decodes the new encoder bit-exactly
    assert rep.ok, rep
    coded = onboard.encode_image(img, new[1], precision="int8", tile=64)
    assert ground.decode_image(coded, new[1]).shape == img.shape
    with pytest.raises(PackageMismatchError):  # a scene names the package that coded it
        ground.decode_image(coded, pkgs[1])


def test_requantize_in_place_prunes_the_replaced_graphs(tmp_path):
    paths = build_tiny_package(tmp_path / "t-q0", lambdas=(0.01, 0.02), family=True, seed=6, name="t")
    old_g_a = load_package(paths[0]).file_path("g_a.int8.onnx")
    crops = calibration_crops(tiny_images(3, 6), 4, 64, seed=6)
    new = _quiet(requantize_family, paths, tmp_path, crops, 2, keep_h_a=True)
    assert [p.name for p in new] == ["t-q0", "t-q1"] and not old_g_a.exists()
    assert load_package(new[0]).file_path("g_a.int8.onnx").exists()


def test_requantize_command(family, tmp_path, capsys):
    pkgs, _ = family
    data = tmp_path / "imgs"
    data.mkdir()
    for i, img in enumerate(tiny_images(3, 11)):
        Image.fromarray(img).save(data / f"scene{i}.png")
    rc = _quiet(satcomp, ["requantize", "--package", str(pkgs[0].path), "--package", str(pkgs[1].path),
                          "--data", str(data), "--out", str(tmp_path / "out"), "--int8-float-convs", "2",
                          "--n-calib", "2", "--calib-size", "64"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "tiny-q0" in printed and "tiny-q1" in printed
    pkg = load_package(tmp_path / "out" / "tiny-q1")
    assert "2 random 64x64 crops" in pkg.manifest["training"]["int8_calibration"]
