"""The image codec end to end on tiny exported packages: bit-exactness, container, typed errors, losses."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ground
import onboard
from ground.decoder import STATUS_CORRUPTED, STATUS_MISSING, STATUS_RECEIVED, decode_scene
from ground.verify import verify_variant
from onboard.container import Chunk, CodedScene
from onboard.errors import PackageMismatchError, ProviderUnavailableError, UnsupportedInputError
from onboard.package import PackageCorruptError, load_package


def smooth_image(h: int, w: int, c: int, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    top = np.iinfo(dtype).max if dtype != np.int16 else 3000
    base = np.stack([np.sin(yy / (7 + b)) + np.cos(xx / (11 + b)) for b in range(c)], -1)
    img = (base - base.min()) / (np.ptp(base) + 1e-9) * top * 0.8 + rng.normal(0, top * 0.01, base.shape)
    lo = -top if dtype == np.int16 else 0
    return np.clip(img, lo, top).astype(dtype)


@pytest.mark.parametrize("shape,tile", [((70, 130, 3), 64), ((128, 128, 3), 256), ((65, 64, 3), 64)])
def test_round_trip_keeps_shape_dtype_and_is_bit_exact(tiny_package, shape, tile):
    img = smooth_image(*shape)
    coded = onboard.encode_image(img, tiny_package, tile=tile)
    assert coded.header.n_chunks == -(-shape[0] // tile) * -(-shape[1] // tile) == len(coded.chunks)
    out = ground.decode_image(coded.to_bytes(), tiny_package)
    assert out.shape == img.shape and out.dtype == img.dtype
    # decoding the object and its bytes gives the same pixels, twice
    assert np.array_equal(out, ground.decode_image(coded, tiny_package))
    for variant in ("int8", "fp32"):
        rep = verify_variant(img, tiny_package, variant, tile=tile)
        assert rep.ok, rep


def test_uint16_and_2d_inputs_keep_their_form(tiny_package_1band):
    img = smooth_image(100, 90, 1, dtype=np.uint16)[:, :, 0]
    coded = onboard.encode_image(img, tiny_package_1band, tile=64)
    back = CodedScene.from_bytes(coded.to_bytes())
    assert back.header.two_d and back.header.shape == (100, 90)
    out = ground.decode_image(back, tiny_package_1band)
    assert out.shape == (100, 90) and out.dtype == np.uint16
    lo, hi = int(img.min()), int(img.max())
    assert out.min() >= lo and out.max() <= hi  # reconstruction clipped to the band's own range


def test_header_carries_what_the_ground_needs(tiny_package):
    t = datetime(2026, 3, 1, 10, 30, 15, 500000, tzinfo=timezone.utc)
    img = smooth_image(96, 80, 3)
    coded = onboard.encode_image(img, tiny_package, tile=64, scene_id=42, acquisition_time=t)
    h = CodedScene.from_bytes(coded.to_bytes()).header
    assert (h.scene_id, h.height, h.width, h.bands, h.dtype) == (42, 96, 80, 3, "uint8")
    assert h.package_id_hex == tiny_package.package_id
    assert abs((h.acquisition_time - t).total_seconds()) < 1e-4
    assert h.band_ranges == tuple((int(img[..., b].min()), int(img[..., b].max())) for b in range(3))
    assert h.bit_depth == max(1, int(img.max()).bit_length())


def test_rate_is_counted_on_the_whole_container(tiny_package):
    img = smooth_image(64, 64, 3)
    coded = onboard.encode_image(img, tiny_package, tile=64)
    assert coded.nbytes == len(coded.to_bytes())
    assert coded.bits_per_sample() == pytest.approx(8 * len(coded.to_bytes()) / img.size)


# --- typed errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad,match", [
    (np.zeros((32, 32, 4), np.uint8), "trained for 3 band"),
    (np.zeros((32, 32), np.uint8), "trained for 3 band.*clustered package .* single-band"),
    (np.zeros((32, 32, 3), np.float32), "dtype float32"),
    (np.zeros((2, 32, 32, 3), np.uint8), "shape"),
    (np.zeros((0, 32, 3), np.uint8), "empty"),
])
def test_bad_input_gets_a_typed_error(tiny_package, bad, match):
    with pytest.raises(UnsupportedInputError, match=match):
        onboard.encode_image(bad, tiny_package)


def test_not_an_array_is_refused(tiny_package):
    with pytest.raises(UnsupportedInputError, match="numpy array"):
        onboard.encode_image([[1, 2], [3, 4]], tiny_package)


def test_bad_precision_and_target_are_refused(tiny_package):
    img = smooth_image(64, 64, 3)
    with pytest.raises(ValueError, match="precision"):
        onboard.encode_image(img, tiny_package, precision="fp16")
    with pytest.raises(ValueError, match="target"):
        onboard.encode_image(img, tiny_package, target="tpu")


def test_cuda_target_without_cuda_says_so(tiny_package):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has the CUDA provider")
    with pytest.raises(ProviderUnavailableError, match="CUDAExecutionProvider"):
        onboard.encode_image(smooth_image(64, 64, 3), tiny_package, target="cuda")


def test_other_package_is_refused(tiny_package, tiny_package_1band):
    coded = onboard.encode_image(smooth_image(64, 64, 3), tiny_package, tile=64)
    with pytest.raises(PackageMismatchError, match=tiny_package.package_id[:16]):
        ground.decode_image(coded, tiny_package_1band)


def _copy_with_store(package, dest: Path) -> Path:
    """Copy a format-2 package and its ``_shared`` store to ``dest`` (a new folder); return the package copy."""
    from onboard.package import SHARED_DIR

    shutil.copytree(package.path, dest / package.path.name)
    shutil.copytree(package.path.parent / SHARED_DIR, dest / SHARED_DIR)
    return dest / package.path.name


def test_tampered_package_is_refused(tiny_package, tmp_path):
    from onboard.package import SHARED_DIR, shared_name

    copy = _copy_with_store(tiny_package, tmp_path / "a")
    load_package(copy)
    shared = tmp_path / "a" / SHARED_DIR / shared_name("y_tables.bin", tiny_package.manifest["files"]["y_tables.bin"])
    data = bytearray(shared.read_bytes())
    data[-1] ^= 1
    shared.write_bytes(bytes(data))
    with pytest.raises(PackageCorruptError, match="y_tables.bin"):
        load_package(copy)
    copy = _copy_with_store(tiny_package, tmp_path / "b")
    rate = bytearray((copy / "rate.npz").read_bytes())
    rate[-30] ^= 1  # the package's own file
    (copy / "rate.npz").write_bytes(bytes(rate))
    with pytest.raises(PackageCorruptError, match="rate.npz"):
        load_package(copy)
    copy = _copy_with_store(tiny_package, tmp_path / "c")
    m = json.loads((copy / "manifest.json").read_text())
    m["rate"]["lambda"] = 1.0  # a changed manifest no longer matches its id
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(PackageCorruptError, match="package id"):
        load_package(copy)


def test_package_without_its_shared_store_says_where_it_looked(tiny_package, tmp_path):
    shutil.copytree(tiny_package.path, tmp_path / "alone")
    with pytest.raises(PackageCorruptError, match="g_a.fp32.onnx.*_shared"):
        load_package(tmp_path / "alone")


def test_a_family_shares_its_graphs(tmp_path):
    """Format 2: the rate points of one model share every graph, table and h_s layer (stored once); each
    package holds only its manifest and rate.npz, decodes bit-exactly, and the rates differ only there."""
    pytest.importorskip("torch")
    from ground.verify import verify_variant
    from onboard.package import SHARED_DIR
    from tests.conftest import build_tiny_package

    paths = build_tiny_package(tmp_path / "fam-q0", name="fam", lambdas=(0.01, 0.05), family=True)
    assert [p.name for p in paths] == ["fam-q0", "fam-q1"]
    for p in paths:
        assert sorted(f.name for f in p.iterdir()) == ["manifest.json", "rate.npz"]
    store = sorted(f.name for f in (tmp_path / SHARED_DIR).iterdir())
    assert len(store) == 9 and any(n.endswith("-g_a.int8.onnx") for n in store)
    pkgs = [load_package(p) for p in paths]
    assert pkgs[0].package_id != pkgs[1].package_id
    assert not np.array_equal(pkgs[0].gain, pkgs[1].gain)
    img = np.random.default_rng(5).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    sizes = []
    for pkg in pkgs:
        for variant in ("int8", "fp32"):
            rep = verify_variant(img, pkg, variant)
            assert rep.ok, rep
        sizes.append(len(onboard.encode_image(img, pkg, tile=64).to_bytes()))
    assert sizes[0] != sizes[1]
    # a re-export of the family leaves the old graphs unreferenced: prune_shared removes exactly those
    from onboard.package import prune_shared

    build_tiny_package(tmp_path / "fam-q0", name="fam", lambdas=(0.01, 0.05), family=True, seed=7)
    after = {f.name for f in (tmp_path / SHARED_DIR).iterdir()}
    gone = {f.name for f in prune_shared(tmp_path)}
    assert gone and gone <= set(store) and not gone & {f.name for f in (tmp_path / SHARED_DIR).iterdir()}
    assert "y_tables.bin" not in " ".join(gone)  # the Gaussian tables are the same bytes: still shared
    assert len(after - gone) == 9
    for p in paths:
        load_package(p)


def test_corrupt_container_header_is_a_typed_error(tiny_package):
    data = bytearray(onboard.encode_image(smooth_image(64, 128, 3), tiny_package, tile=64).to_bytes())
    data[20] ^= 0xFF  # inside the scene header
    with pytest.raises(onboard.errors.CorruptStreamError, match="header"):
        ground.decode_image(bytes(data), tiny_package)


def test_a_damaged_chunk_record_in_container_bytes_costs_only_that_chunk(tiny_package):
    img = smooth_image(128, 192, 3)
    coded = onboard.encode_image(img, tiny_package, tile=64)
    clean = decode_scene(coded, tiny_package, conceal=False)
    victim = 4
    data = bytearray(coded.to_bytes())
    start = len(coded.header.pack()) + sum(len(c.pack()) for c in coded.chunks[:victim])
    data[start + 10] ^= 0xFF  # a payload octet of chunk 4: its CRC32 fails
    data[start + 1] ^= 0x01  # and its length field
    res = decode_scene(bytes(data), tiny_package, conceal=False)
    assert res.lost_chunks == [victim] and res.chunk_status[victim] == STATUS_CORRUPTED
    assert "CRC32" in res.errors[victim] and len(res.container_damage) == 1
    for cid in range(coded.header.n_chunks):
        r, c = divmod(cid, coded.header.n_tile_cols)
        sl = np.s_[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64]
        assert res.pixel_valid[sl].all() == (cid != victim)
        if cid != victim:
            assert np.array_equal(res.image[sl], clean.image[sl]), cid
    with pytest.warns(RuntimeWarning, match=r"concealed: \[4\]"):
        out = ground.decode_image(bytes(data), tiny_package)
    assert out.shape == img.shape and out.dtype == img.dtype


# --- losses cost only their chunks ---------------------------------------------------------------------------
def test_missing_and_corrupted_chunks_cost_only_themselves(tiny_package):
    img = smooth_image(128, 192, 3)
    coded = onboard.encode_image(img, tiny_package, tile=64)
    clean = decode_scene(coded, tiny_package, conceal=False)
    chunks = [c for c in coded.chunks if c.index != 1]  # chunk 1 lost
    bad = chunks[3]
    payload = bytearray(bad.payload)
    payload[len(payload) // 2] ^= 0x5A  # passes the container (its CRC is recomputed) but not rANS
    chunks[3] = Chunk(bad.index, bytes(payload))
    lossy = CodedScene(coded.header, chunks)
    res = decode_scene(CodedScene.from_bytes(lossy.to_bytes()), tiny_package)
    assert res.chunk_status[1] == STATUS_MISSING
    assert res.chunk_status[bad.index] in (STATUS_CORRUPTED, STATUS_RECEIVED)  # a flip may still decode
    lost = set(res.lost_chunks)
    assert 1 in lost
    for cid in range(coded.header.n_chunks):
        r, c = divmod(cid, coded.header.n_tile_cols)
        sl = np.s_[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64]
        if cid in lost:
            assert not res.pixel_valid[sl].any()
        elif cid != bad.index:
            assert np.array_equal(res.image[sl], clean.image[sl]), cid


def test_decode_is_deterministic_across_worker_counts(tiny_package):
    coded = onboard.encode_image(smooth_image(192, 192, 3), tiny_package, tile=64)
    outs = [ground.decode_image(coded, tiny_package, workers=w) for w in (1, 2, 4)]
    assert all(np.array_equal(outs[0], o) for o in outs[1:])


# --- the integer hyper-synthesis graph equals the reference -----------------------------------------------
@pytest.mark.parametrize("thresholds_input", [False, True], ids=["format1-constant", "format2-input"])
def test_integer_onnx_graph_equals_int64_reference_on_random_networks(thresholds_input):
    import onnxruntime as ort

    from onboard.integer_hs import IntegerHyperSynthesis
    from onboard.integer_hs_onnx import build_integer_hs_model

    rng = np.random.default_rng(5)
    total = 0
    for seed in range(3):
        hs = IntegerHyperSynthesis.random(nz=4, n=6, m=5, seed=seed)
        sess = ort.InferenceSession(build_integer_hs_model(hs, thresholds_input).SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        for _ in range(4):
            z = rng.integers(-200, 200, size=(2, 4, 3, 5)).astype(np.int32)  # includes out-of-range values
            feed = {"z_hat": z}
            if thresholds_input:
                feed["thresholds"] = hs.thresholds.astype(np.int64)
            got = sess.run(None, feed)[0]
            want = hs.indexes(z)
            assert got.dtype == np.int32 and np.array_equal(got, want)
            total += want.size
    assert total >= 5000


def test_package_integer_graph_equals_reference(tiny_package):
    rng = np.random.default_rng(1)
    sess = tiny_package.session("h_s", "int", "cpu", threads=1)
    z = rng.integers(-20, 20, size=(8, tiny_package.hyper_channels, 4, 4)).astype(np.int32)
    got = sess.run(None, tiny_package.hs_onnx_feed(z))[0]
    want = tiny_package.hyper_synthesis.indexes(z)
    assert np.array_equal(got, want) and want.size >= 8 * 12 * 16 * 16


def test_torch_reference_matches_the_fp32_graph(tiny_package):
    torch = pytest.importorskip("torch")
    from onboard.models.export import torch_reference

    mods = torch_reference(tiny_package)
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    y_ort = tiny_package.session("g_a", "fp32").run(None, {"x": x})[0] * tiny_package.gain.reshape(1, -1, 1, 1)
    with torch.no_grad():
        y_t = mods["g_a"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y_t, y_ort, rtol=1e-4, atol=1e-4)


def test_asymmetric_package_with_a_wider_ground_decoder(tmp_path):
    """n_s widens only g_s (ground side): the onboard graphs keep their size, the manifest records n_s, and the
    package decodes bit-exactly with its torch reference rebuilt from the manifest."""
    pytest.importorskip("torch")
    import torch

    from onboard.models.export import torch_reference
    from onboard.package import load_package
    from tests.conftest import build_tiny_package

    pkg = load_package(build_tiny_package(tmp_path / "wide-q0", n_s=20, name="wide-q0"))
    assert pkg.architecture["n"] == 8 and pkg.architecture["n_s"] == 20
    _verify_every_variant(pkg, seed=3)
    # the ground decoder rebuilt from the manifest is the wide one and matches the fp32 graph
    g_s = torch_reference(pkg)["g_s"]
    y_hat = np.random.default_rng(4).integers(-3, 4, (1, 12, 4, 4)).astype(np.float32)
    with torch.no_grad():
        x_t = g_s(torch.from_numpy(y_hat)).numpy()
    y_in = y_hat * pkg.inverse_gain.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(x_t, pkg.session("g_s", "fp32").run(None, {"y_hat": y_in})[0], atol=1e-5)


def test_runtime_encoder_does_not_import_torch(tiny_package):
    code = (
        "import sys, numpy as np, onboard, ground\n"
        f"pkg = onboard.load_package({str(tiny_package.path)!r})\n"
        "img = np.zeros((64, 64, 3), np.uint8); img[::3] = 200\n"
        "c = onboard.encode_image(img, pkg)\n"
        "ground.decode_image(c.to_bytes(), pkg)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_float16_weight_storage_keeps_the_graph_in_float32(tmp_path):
    """store_weights_float16 halves the large weights of a ground-side graph: they become float16 initializers
    behind Casts, the graph still takes and gives float32, and its output moves by no more than the weights'
    float16 rounding allows; small tensors (biases) stay float32."""
    torch = pytest.importorskip("torch")
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto

    from onboard.models.export import store_weights_float16

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.ConvTranspose2d(32, 64, 5, stride=2, padding=2, output_padding=1),
                              torch.nn.ReLU(), torch.nn.Conv2d(64, 3, 3, padding=1)).eval()
    path = tmp_path / "g.onnx"
    with warnings.catch_warnings():  # the exporter the package export uses (dynamo=False) warns it is legacy
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 32, 4, 4),), str(path), dynamo=False, input_names=["y_hat"],
                          output_names=["x_hat"], dynamic_axes={"y_hat": {2: "H", 3: "W"}}, opset_version=17)
    x = np.random.default_rng(0).normal(size=(1, 32, 6, 7)).astype(np.float32)
    before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"y_hat": x})[0]
    size0 = path.stat().st_size
    assert store_weights_float16(path) == 1  # the 32x64x5x5 weight; the 64x3x3x3 one and the biases are small
    model = onnx.load(str(path))
    types = {i.name: i.data_type for i in model.graph.initializer}
    assert sorted(types.values()).count(TensorProto.FLOAT16) == 1
    assert any(n.op_type == "Cast" for n in model.graph.node) and path.stat().st_size < 0.6 * size0
    after = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"y_hat": x})[0]
    assert after.dtype == np.float32 and after.shape == before.shape
    assert 0 < np.max(np.abs(after - before)) < 1e-3 * np.max(np.abs(before))


def _verify_every_variant(pkg, seed: int) -> None:
    """int8, fp32 and torch-reference encodes of a random image all decode bit-exactly with ``pkg``."""
    from ground.verify import verify_variant
    from tools.verify import torch_analysis

    img = np.random.default_rng(seed).integers(0, 256, (96, 80, 3), dtype=np.uint8)
    for variant in ("int8", "fp32"):
        rep = verify_variant(img, pkg, variant)
        assert rep.ok, rep
    assert verify_variant(img, pkg, "torch", analysis=torch_analysis(pkg)).ok


def test_package_with_a_wider_onboard_analysis(tmp_path):
    """n_a widens only g_a: h_a, h_s and g_s keep n, the manifest records n_a, every encoder variant decodes
    bit-exactly, and the torch reference rebuilt from the manifest has the wide g_a."""
    torch = pytest.importorskip("torch")
    from onboard.models.export import torch_reference
    from tests.conftest import build_tiny_package

    pkg = load_package(build_tiny_package(tmp_path / "wa-q0", n_a=16, name="wa-q0"))
    assert pkg.architecture["n"] == 8 and pkg.architecture["n_a"] == 16 and pkg.architecture["n_s"] == 8
    _verify_every_variant(pkg, seed=5)
    g_a = torch_reference(pkg)["g_a"]
    assert g_a.net[0].weight.shape[0] == 16
    x = np.random.default_rng(6).random((1, 3, 64, 64), dtype=np.float32)
    y_ort = pkg.session("g_a", "fp32").run(None, {"x": x})[0] * pkg.gain.reshape(1, -1, 1, 1)
    with torch.no_grad():
        np.testing.assert_allclose(g_a(torch.from_numpy(x)).numpy(), y_ort, rtol=1e-4, atol=1e-4)


@given(st.lists(st.floats(-300, 300, allow_nan=False, width=32), min_size=1, max_size=64),
       st.floats(0.0, 0.49))
def test_dead_zone_rounding_only_ever_moves_towards_zero(values, deadzone):
    from onboard.encoder import quantise_latent

    y = np.array(values, np.float32)
    plain, q = np.rint(y).astype(np.int64), quantise_latent(y, deadzone).astype(np.int64)
    assert np.all(np.abs(q - y) <= 0.5 + deadzone + 1e-4)  # still the nearest integer or the next one in
    assert np.all((q == plain) | (np.abs(q) == np.abs(plain) - 1))
    assert np.all(np.sign(q) * np.sign(plain) >= 0)  # never crosses zero
    assert np.all(np.abs(q) <= np.abs(plain))


def test_dead_zone_lowers_the_rate_and_the_decoder_follows(tiny_package):
    """The dead zone is the encoder's choice: any value of it decodes bit-exactly, with fewer or equal octets
    (with the RD choice off, which replaces it for a package with distortion weights)."""
    from onboard.encoder import DEFAULT_DEADZONE

    img = np.random.default_rng(7).integers(0, 256, (96, 80, 3), dtype=np.uint8)
    sizes = []
    for dz in (0.0, DEFAULT_DEADZONE, 0.3):
        coded = onboard.encode_image(img, tiny_package, deadzone=dz, rd_weight=0.0)
        rec = ground.decode_image(coded.to_bytes(), tiny_package)
        assert rec.shape == img.shape and rec.dtype == img.dtype
        sizes.append(coded.nbytes)
    assert sizes[0] >= sizes[1] >= sizes[2] and sizes[0] > sizes[2]
    assert verify_variant(img, tiny_package, "fp32").ok  # encoder and decoder latents agree with the default
    for bad in (-0.1, 0.5, 1.0):
        with pytest.raises(ValueError, match="deadzone"):
            onboard.encode_image(img, tiny_package, deadzone=bad)


def test_the_transfer_curve_round_trips_every_16_bit_value():
    from onboard.encoder import denormalise, normalise

    x = np.arange(65536, dtype=np.uint16).reshape(256, 256, 1)
    for exponent in (0.5, 0.8, 1.0, 2.0):
        for lo, hi in ((0, 65535), (477, 7818)):
            xs = np.clip(x, lo, hi)
            t = normalise(xs, [(lo, hi)], exponent)
            assert t.dtype == np.float32 and t.min() >= 0.0 and t.max() <= 1.0
            assert np.array_equal(denormalise(t, [(lo, hi)], "uint16", exponent), xs), (exponent, lo, hi)
