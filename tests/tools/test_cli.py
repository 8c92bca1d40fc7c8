"""The satcomp commands (verify, rd, export, doctor) and the RD helpers (BD-rate, baselines)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tools.baselines import bd_rate, jpeg2000_bands, jpeg2000_image, klt_jpeg2000
from tools.cli import main as satcomp


def test_bd_rate_of_known_curves():
    r = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    d = np.array([25.0, 28.0, 31.0, 34.0, 37.0])
    assert bd_rate(r, d, r, d) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(r, d, r / 2, d) == pytest.approx(-50.0, abs=1e-6)  # same quality at half the rate
    assert bd_rate(r, d, r * 1.1, d) == pytest.approx(10.0, abs=1e-6)
    assert np.isnan(bd_rate(r, d, r, d + 100))  # no overlap


def test_jpeg2000_baselines_meet_their_rate():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128]
    img = np.clip(128 + 60 * np.sin(yy / 8.0)[:, :, None] * np.cos(xx / 11.0)[:, :, None]
                  + rng.normal(0, 10, (128, 128, 3)), 0, 255).astype(np.uint8)
    n, out = jpeg2000_image(img, 1.0)
    assert out.shape == img.shape and 0.5 < 8 * n / 128 / 128 < 1.2
    cube = np.clip(1000 + 800 * np.sin(yy / 8.0)[:, :, None] * np.linspace(0.5, 1, 20)
                   + rng.normal(0, 20, (128, 128, 20)), 0, 4095).astype(np.uint16)
    n, out = jpeg2000_bands(cube, 1.0)
    assert out.shape == cube.shape and 8 * n / cube.size < 1.3
    n, out = klt_jpeg2000(cube, 0.5)
    assert 8 * n / cube.size <= 0.5 and out.dtype == cube.dtype
    mse = np.mean((out.astype(float) - cube) ** 2)
    assert mse < np.var(cube.astype(float))  # it does reconstruct the cube


def test_every_jpeg2000_anchor_counts_a_raw_codestream_not_the_jp2_file_format(monkeypatch):
    """What a payload would downlink is the codestream (SOC ... EOC); the JP2 boxes around it would charge the
    anchor 27-85 octets per codestream that the learned container does not pay. Every path of the baselines
    hands its decoder (and counts) a raw codestream."""
    import imagecodecs
    from PIL import Image

    from tools.baselines import J2K_SOC_SIZ

    seen = []
    pil_open, ic_decode = Image.open, imagecodecs.jpeg2k_decode

    def spy_open(fp, *a, **k):
        seen.append(("pillow", fp.getvalue()[:4]))
        return pil_open(fp, *a, **k)

    def spy_decode(data, *a, **k):
        seen.append(("imagecodecs", bytes(data[:4])))
        return ic_decode(data, *a, **k)

    monkeypatch.setattr(Image, "open", spy_open)
    monkeypatch.setattr(imagecodecs, "jpeg2k_decode", spy_decode)
    rng = np.random.default_rng(5)
    rgb8 = rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)
    rgb16 = rng.integers(0, 4095, (64, 64, 3)).astype(np.uint16)
    grey16 = rng.integers(0, 4095, (64, 64)).astype(np.uint16)
    cube = rng.integers(0, 4095, (64, 64, 6)).astype(np.uint16)
    jpeg2000_image(rgb8, 1.0)
    jpeg2000_image(rgb16, 1.0)
    jpeg2000_image(grey16, 1.0)
    jpeg2000_bands(cube, 1.0)
    klt_jpeg2000(cube, 1.0)
    n_seen = len(seen)
    from tools.klt_components import j2k_plane_psnr  # the per-component report compares at equal octets too

    j2k_plane_psnr(grey16 / 4095.0, 300)
    assert len(seen) > n_seen
    assert {who for who, _ in seen} == {"pillow", "imagecodecs"}
    assert all(head == J2K_SOC_SIZ for _, head in seen), seen


def test_16bit_rgb_anchor_uses_the_colour_transform():
    """16-bit RGB is coded as one JPEG 2000 codestream with the colour transform, within its budget, and beats
    coding the three bands separately at the same rate (the anchor must be JPEG 2000 at its best)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:128, 0:128]
    lum = 20000 + 9000 * np.sin(yy / 9.0) * np.cos(xx / 13.0) + rng.normal(0, 300, (128, 128))
    img = np.clip(lum[:, :, None] * np.array([1.0, 0.9, 0.8]) + rng.normal(0, 150, (128, 128, 3)), 0,
                  65535).astype(np.uint16)
    n, out = jpeg2000_image(img, 1.5)
    assert out.shape == img.shape and out.dtype == np.uint16 and 8 * n / 128 / 128 <= 1.5
    n_b, out_b = jpeg2000_bands(img, 1.5 / 3)
    mse = np.mean((out.astype(float) - img) ** 2)
    mse_b = np.mean((out_b.astype(float) - img) ** 2)
    assert 8 * n_b / 128 / 128 <= 1.6 and mse < mse_b


def test_int16_images_are_coded_by_the_anchor_through_a_lossless_offset():
    """CBERS DN arrive as int16: the anchor codes them shifted into uint16 and shifts back, so it gives the
    same codestream and error as on the shifted data itself."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:96, 0:96]
    lum = 300 + 250 * np.sin(yy / 7.0) * np.cos(xx / 10.0)
    img = np.clip(lum[:, :, None] * np.array([1.0, 0.9, 0.7]) + rng.normal(0, 20, (96, 96, 3)) - 100, -512,
                  1023).astype(np.int16)
    n, out = jpeg2000_image(img, 2.0)
    assert out.dtype == np.int16 and out.shape == img.shape
    n_u, out_u = jpeg2000_image((img.astype(np.int32) - int(img.min())).astype(np.uint16), 2.0)
    assert n == n_u and np.array_equal(out.astype(np.int32) - int(img.min()), out_u)
    with pytest.raises(ValueError, match="int16"):
        jpeg2000_image(img.astype(np.float32), 2.0)


def test_verify_command_exit_status_and_report(tiny_package, tiny_clustered_package, tmp_path):
    img = np.random.default_rng(1).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    np.savez_compressed(tmp_path / "cube.npz", data=np.random.default_rng(2).integers(0, 4000, (40, 40, 11),
                                                                                      dtype=np.uint16))
    rc = satcomp(["verify", "--package", str(tiny_package.path), str(tmp_path), "--json",
                  str(tmp_path / "v.json"), "--variants", "int8", "fp32"])
    assert rc == 0
    rows = json.loads((tmp_path / "v.json").read_text())
    assert {r["variant"] for r in rows} == {"int8", "fp32"} and all(r["ok"] for r in rows)
    assert len(rows) == 2  # the cube was skipped by the image package, not failed
    rc = satcomp(["verify", "--package", str(tiny_clustered_package.path), str(tmp_path / "cube.npz"),
                  "--variants", "int8"])
    assert rc == 0
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert satcomp(["verify", "--package", str(tiny_package.path), str(tmp_path / "bad.png")]) == 1


def test_rd_command_writes_table_plot_and_json(tiny_package, tmp_path):
    rng = np.random.default_rng(3)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(tmp_path / f"i{i}.png")
    rc = satcomp(["rd", "--package", str(tiny_package.path), str(tmp_path), "--out", str(tmp_path / "rd"),
                  "--precision", "int8", "fp32", "--baseline-points", "4"])
    assert rc == 0
    doc = json.loads((tmp_path / "rd" / "rd.json").read_text())
    assert set(doc["average"]) == {"learned-int8", "learned-fp32", "jpeg2000"}
    assert doc["rate_unit"] == "bits per pixel" and len(doc["per_input"]) == 2
    # the encoder's quantiser is on record: the default RD weight, and which packages had weights for it
    assert doc["rd_weight"] == 2.5 and doc["rd_quantiser"] == {tiny_package.name: True}
    assert (tmp_path / "rd" / "rd.png").stat().st_size > 0
    for pi in doc["per_input"]:
        base, learned = pi["points"]["jpeg2000"], pi["points"]["learned-int8"]
        slots = [q["slot"] for q in base]
        assert len(set(slots)) == len(slots)
        # the baseline was extended until it spans the learned quality range, or ran out of extensions
        assert max(q["psnr_db"] for q in base) >= max(q["psnr_db"] for q in learned) or max(slots) == 4 + 5
        assert min(q["psnr_db"] for q in base) <= min(q["psnr_db"] for q in learned) or min(slots) == -3
    rates = doc["average"]["jpeg2000"]["rate"]
    assert rates == sorted(rates)


def test_rd_codes_the_bands_asked_for_by_name_or_index(tiny_package, tmp_path, capsys):
    rng = np.random.default_rng(4)
    data = rng.integers(0, 4000, (64, 64, 5), dtype=np.uint16)
    np.savez(tmp_path / "ms.npz", data=data, bands=np.array(["B01", "B02", "B03", "B04", "B05"]))
    out = tmp_path / "rd"
    args = ["rd", "--package", str(tiny_package.path), str(tmp_path / "ms.npz"), "--out", str(out),
            "--precision", "int8", "--baseline-points", "3"]
    assert satcomp(args + ["--bands", "B04", "B03", "B02"]) == 0
    doc = json.loads((out / "rd.json").read_text())
    assert doc["bands"] == ["B04", "B03", "B02"] and doc["per_input"][0]["shape"] == [64, 64, 3]
    assert doc["rate_unit"] == "bits per pixel"  # three bands: an image for the RGB package
    from tools.rd import select_bands
    np.testing.assert_array_equal(select_bands(tmp_path / "ms.npz", data, ["B04", "B03", "B02"]),
                                  select_bands(tmp_path / "ms.npz", data, ["3", "2", "1"]))
    np.testing.assert_array_equal(select_bands(tmp_path / "ms.npz", data, ["3", "2", "1"]), data[:, :, [3, 2, 1]])
    capsys.readouterr()
    for bad, words in ((["B09"], "no band named 'B09'"), (["7"], "band index 7 outside 0..4")):
        assert satcomp(args + ["--bands", *bad]) == 2
        assert words in capsys.readouterr().err
    np.save(tmp_path / "plain.npy", data)
    assert satcomp(args[:3] + [str(tmp_path / "plain.npy")] + args[4:] + ["--bands", "B04"]) == 2
    assert "no band names" in capsys.readouterr().err
    import doctest

    import tools.rd
    result = doctest.testmod(tools.rd)
    assert result.attempted >= 1 and result.failed == 0


def test_rd_codes_cubes_in_the_spectral_mode_asked(tiny_klt_package):
    from tests.onboard.test_spectral import low_rank_cube
    from tools.rd import evaluate_input

    cube = low_rank_cube(h=48, w=48, c=12)
    planes = {}
    for mode in ("auto", "none"):
        points, is_cube = evaluate_input(cube, [tiny_klt_package], ["int8"], 3, echo=lambda *_: None,
                                         spectral=mode)
        assert is_cube and {"jpeg2000-bands", "learned-int8"} <= set(points)
        planes[mode] = points["learned-int8"][0]["coded_planes"]
    assert planes["none"] == 12 and planes["auto"] < 12  # the KLT package codes a few components


def test_doctor_prints_the_stack(capsys):
    assert satcomp(["doctor"]) == 0
    out = capsys.readouterr().out
    for word in ("numpy", "numba", "onnxruntime", "threading layer", "providers", "gpu"):
        assert word in out.lower()


def test_unknown_package_is_a_clear_error(tmp_path, capsys):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert satcomp(["verify", "--package", "no-such-package", str(tmp_path / "a.png")]) == 2
    assert "no shipped package named 'no-such-package'" in capsys.readouterr().err


def test_rd_refuses_a_dead_zone_outside_its_range(tmp_path, capsys):
    for bad in ("0.5", "-0.1", "abc"):
        with pytest.raises(SystemExit) as exc:
            satcomp(["rd", "--package", "hp-rgb-q2", str(tmp_path), "--out", str(tmp_path / "rd"), "--deadzone", bad])
        assert exc.value.code == 2 and "--deadzone" in capsys.readouterr().err


def test_rd_refuses_a_negative_or_non_finite_rd_weight(tmp_path, capsys):
    for bad in ("-1", "nan", "inf", "abc"):
        with pytest.raises(SystemExit) as exc:
            satcomp(["rd", "--package", "hp-rgb-q2", str(tmp_path), "--out", str(tmp_path / "rd"), "--rd-weight", bad])
        assert exc.value.code == 2 and "--rd-weight" in capsys.readouterr().err


def test_rd_refuses_a_transfer_that_is_no_exponent(tmp_path, capsys):
    for bad in ("gamma", "0", "-1", "nan"):
        with pytest.raises(SystemExit) as exc:
            satcomp(["rd", "--package", "hp-rgb-q2", str(tmp_path), "--out", str(tmp_path / "rd"), "--transfer", bad])
        assert exc.value.code == 2 and "--transfer" in capsys.readouterr().err


def test_rd_codes_with_the_tile_size_asked_and_records_it(tiny_package, tmp_path, capsys):
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 255, (96, 160, 3), dtype=np.uint8)).save(tmp_path / "i.png")
    sizes = {}
    for tile in (32, 256):
        out = tmp_path / f"rd{tile}"
        assert satcomp(["rd", "--package", str(tiny_package.path), str(tmp_path / "i.png"), "--out", str(out),
                        "--precision", "int8", "--baseline-points", "3", "--tile", str(tile)]) == 0
        doc = json.loads((out / "rd.json").read_text())
        assert doc["tile"] == tile
        sizes[tile] = doc["per_input"][0]["points"]["learned-int8"][0]["rate"]
    import onboard
    img = np.asarray(Image.open(tmp_path / "i.png"))
    for tile, rate in sizes.items():  # the rate of the scene the encoder writes with that tile
        assert rate == 8.0 * onboard.encode_image(img, tiny_package, tile=tile).nbytes / (96 * 160)
    assert sizes[32] != sizes[256]  # 15 chunks against 1
    capsys.readouterr()
    for bad in ("0", "70000", "abc"):
        with pytest.raises(SystemExit) as exc:
            satcomp(["rd", "--package", "hp-rgb-q2", str(tmp_path), "--out", str(tmp_path / "rd"), "--tile", bad])
        assert exc.value.code == 2 and "--tile" in capsys.readouterr().err
