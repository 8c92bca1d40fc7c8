"""Training smoke tests (a few steps on the bundled samples), resuming, widening and the ceiling diagnostic."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from onboard.models.hyperprior import HyperpriorConfig, ScaleHyperprior  # noqa: E402
from tests.tools.conftest import log_steps  # noqa: E402
from tools.model_ceiling import ceiling_report  # noqa: E402
from tools.train import init_from_weights, train, widened_regions  # noqa: E402

TINY = dict(n=8, m=16, nz=8, crop=64, batch=2, threads=1, progress=False, checkpoint_every=2)


def test_train_writes_weights_and_resumes_from_its_checkpoint(image_folder, tmp_path):
    run = tmp_path / "run"
    weights = train(str(image_folder), str(run), steps=3, **TINY)
    ck = torch.load(weights, weights_only=False)
    assert ck["step"] == 3 and "opt" not in ck  # weights-only file
    assert log_steps(run) == [1, 2, 3]
    train(str(image_folder), str(run), steps=5, **TINY)
    assert log_steps(run) == [1, 2, 3, 4, 5]  # resumed at step 3, not restarted
    assert torch.load(run / "weights.pt", weights_only=False)["step"] == 5


def test_true_colour_training_reads_named_bands_and_records_the_option(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "data"
    root.mkdir()
    np.savez(root / "ms.npz", data=rng.integers(0, 4000, (96, 96, 5), dtype=np.uint16),
             bands=np.array(["B02", "B03", "B04", "B08", "B11"]))
    (root / "manifest.json").write_text(json.dumps({"files": [
        {"file": "ms.npz", "shape": [96, 96, 5], "purpose": "train"}]}))
    with pytest.raises(ValueError, match="no usable 3-band image"):  # without the option the 5-band file is out
        train(str(root), str(tmp_path / "plain"), steps=1, **TINY)
    train(str(root), str(tmp_path / "tc"), steps=2, true_colour=True, **TINY)
    record = json.loads((tmp_path / "tc" / "train_command.json").read_text())
    assert record["command"].endswith(" --true-colour") and record["images_used"] == 1
    train(str(root), str(tmp_path / "tr"), steps=1, true_colour=True, transfer="auto", **TINY)
    record = json.loads((tmp_path / "tr" / "train_command.json").read_text())
    assert record["command"].endswith(" --true-colour --transfer auto")
    with pytest.raises(ValueError, match="image models"):
        train(str(root), str(tmp_path / "cube"), steps=1, cluster_bands=1, transfer="auto", **TINY)


def test_low_contrast_training_records_the_option(image_folder, tmp_path):
    train(str(image_folder), str(tmp_path / "lc"), steps=2, low_contrast_share=0.5, **TINY)
    record = json.loads((tmp_path / "lc" / "train_command.json").read_text())
    assert record["command"].endswith(" --low-contrast-share 0.5")
    with pytest.raises(ValueError, match="image models"):
        train(str(image_folder), str(tmp_path / "cube"), steps=1, cluster_bands=1, low_contrast_share=0.5,
              **TINY)


def test_widening_the_latent_keeps_what_the_model_computes():
    torch.manual_seed(0)
    small = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8)).eval()
    wide = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=24, nz=8)).eval()
    copied, widened = init_from_weights(wide, small.state_dict())
    assert widened == 7 and copied + widened == len(small.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():  # the same up to float summation order (zero inputs may change the conv's blocking)
        assert torch.allclose(small.g_s(small.g_a(x)), wide.g_s(wide.g_a(x)), rtol=0, atol=1e-5)
        assert torch.allclose(small.h_a(small.g_a(x)), wide.h_a(wide.g_a(x)), rtol=0, atol=1e-5)
        # the new latent channels exist and carry values (they are learned, not dead)
        assert wide.g_a(x)[:, 16:].abs().sum() > 0


def test_more_rate_points_keep_the_old_ones_and_extrapolate_the_new_gains():
    torch.manual_seed(0)
    five = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8)).eval()
    six = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8,
                                           lambdas=(0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.05))).eval()
    copied, widened = init_from_weights(six, five.state_dict())
    assert widened == 1 and copied + widened == len(five.state_dict())
    assert torch.equal(six.log_gain[:5], five.log_gain)
    step = five.log_gain[4] - five.log_gain[3]
    assert torch.allclose(six.log_gain[5], five.log_gain[4] + step)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for r in range(5):  # the old rate points compute what they computed
            assert torch.equal(five(x, r)["y"], six(x, r)["y"]) and torch.equal(five.gain(r), six.gain(r))
        assert torch.all(six.gain(5) > six.gain(4))  # the new point quantises more finely


def test_a_wider_ground_decoder_starts_from_the_narrow_one():
    torch.manual_seed(0)
    narrow = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8)).eval()
    wide = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8, n_s=24)).eval()
    assert wide.g_s.net[0].weight.shape[1] == 24 and wide.g_a.net[0].weight.shape[0] == 8  # encoder unchanged
    copied, widened = init_from_weights(wide, narrow.state_dict())
    assert copied + widened == len(narrow.state_dict()) and widened == 13  # g_s: 4 deconv weights, 3 biases, 3 GDN x (beta, gamma)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y = narrow.g_a(x)
        assert torch.equal(y, wide.g_a(x))
        assert torch.allclose(narrow.g_s(y), wide.g_s(y), atol=1e-6)
        # the new hidden channels carry values, so the zeroed weights that read them get gradients
        assert wide.g_s.net[1](wide.g_s.net[0](y))[:, 8:].abs().sum() > 0
    cfg = HyperpriorConfig.from_dict(wide.config.to_dict())
    assert cfg.n_s == 24 and cfg.synthesis_width == 24
    assert HyperpriorConfig.from_dict({k: v for k, v in narrow.config.to_dict().items() if k != "n_s"}).n_s is None


def test_a_wider_onboard_analysis_starts_from_the_narrow_one():
    torch.manual_seed(0)
    narrow = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8)).eval()
    wide = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=24, nz=8, n_a=12)).eval()
    assert wide.g_a.net[0].weight.shape[0] == 12 and wide.h_a.net[0].weight.shape[0] == 8  # h_a keeps n
    assert wide.g_s.net[2].weight.shape[0] == 8
    copied, widened = init_from_weights(wide, narrow.state_dict())
    assert copied + widened == len(narrow.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y_narrow, y_wide = narrow.g_a(x), wide.g_a(x)
        assert torch.allclose(y_wide[:, :16], y_narrow, atol=1e-6)  # the old latent channels are unchanged
        assert torch.allclose(narrow.g_s(y_narrow), wide.g_s(y_wide), atol=1e-6)  # new channels enter as zero
        assert torch.allclose(narrow.h_a(y_narrow), wide.h_a(y_wide), atol=1e-6)
        hidden = wide.g_a.net[1](wide.g_a.net[0](x))
        assert hidden[:, 8:].abs().sum() > 0  # the new hidden channels carry values, so they get gradients
    cfg = HyperpriorConfig.from_dict(wide.config.to_dict())
    assert cfg.n_a == 12 and cfg.analysis_width == 12 and cfg.synthesis_width == 8
    assert HyperpriorConfig.from_dict({k: v for k, v in narrow.config.to_dict().items() if k != "n_a"}).n_a is None


def test_widening_warmup_gives_the_new_latent_channels_gradients():
    torch.manual_seed(0)
    narrow = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8))
    wide = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=24, nz=8))
    init_from_weights(wide, narrow.state_dict())
    with torch.no_grad():
        wide.g_a.net[6].weight[16:] *= 0.01  # new channels too small to survive rounding
    x = torch.rand(2, 3, 64, 64)

    def new_channel_grad(noisy_from):
        wide.zero_grad()
        wide.noisy_synthesis_from = noisy_from
        out = wide(x, 0)
        torch.mean((out["x_hat"] - x) ** 2).backward()
        return float(wide.g_s.net[0].weight.grad[16:].abs().sum()), out["x_hat"].detach()

    dead, x_plain = new_channel_grad(None)
    live, x_warm = new_channel_grad(16)
    assert dead == 0.0 and live > 0.0
    assert torch.allclose(x_plain, x_warm, atol=1e-6)  # the new channels enter g_s through zero weights
    wide.noisy_synthesis_from = None


def test_widened_regions_are_the_weights_the_source_lacked():
    narrow = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8))
    wide = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=24, nz=8, n_a=12))
    masks = widened_regions(wide, narrow.state_dict())
    assert "log_gain" not in masks and "h_s.l1.weight" not in masks  # unchanged shapes are not widened
    g_s_in = masks["g_s.net.0.weight"]  # ConvTranspose2d weight: (in = M, out, k, k)
    assert g_s_in[16:].all() and not g_s_in[:16].any()
    g_a_last = masks["g_a.net.6.weight"]  # (M, N_a, k, k): new rows and new input columns
    assert g_a_last[16:].all() and g_a_last[:, 8:].all() and not g_a_last[:16, :8].any()
    assert masks["g_a.net.1.gamma"].sum() == 12 * 12 - 8 * 8
    # the same rule as init_from_weights: another band count is not widening (its layers keep their own init)
    cube = ScaleHyperprior(HyperpriorConfig(bands=8, n=8, m=16, nz=8, cluster_bands=8))
    assert widened_regions(cube, narrow.state_dict()) == {}


def test_widening_with_a_faster_learning_rate_for_the_new_weights(image_folder, tmp_path):
    src = train(str(image_folder), str(tmp_path / "narrow"), steps=1, seed=0, **TINY)
    wide = train(str(image_folder), str(tmp_path / "wide"), steps=2, seed=0, init_weights=str(src),
                 widen_warmup=1, widen_lr_mult=5.0, **{**TINY, "m": 24})
    cmd = json.loads((tmp_path / "wide" / "train_command.json").read_text())["command"]
    assert "--widen-warmup 1" in cmd and "--widen-lr-mult 5" in cmd
    state = torch.load(wide, weights_only=False)["model"]
    assert state["g_s.net.0.weight"][16:].abs().sum() > 0  # the zero-initialised reads of new channels moved


def test_widen_warmup_needs_a_narrower_source(image_folder, tmp_path):
    with pytest.raises(ValueError, match="narrower latent"):
        train(str(image_folder), str(tmp_path / "run"), steps=1, seed=0, widen_warmup=5, **TINY)


def test_another_band_count_keeps_its_own_first_and_last_layers():
    rgb = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8))
    cube = ScaleHyperprior(HyperpriorConfig(bands=8, n=8, m=16, nz=8, cluster_bands=8))
    before = cube.g_a.net[0].weight.detach().clone()
    copied, widened = init_from_weights(cube, rgb.state_dict())
    assert widened == 0 and copied == len(rgb.state_dict()) - 3  # g_a first conv, g_s last deconv and bias
    assert torch.equal(cube.g_a.net[0].weight, before)


def test_ceiling_report_on_a_tiny_model():
    model = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8)).eval()
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    rep = ceiling_report(model, x)
    assert len(rep.rate_psnr_db) == len(rep.rate_bits_per_sample) == 5
    assert all(np.isfinite(rep.rate_psnr_db)) and all(b > 0 for b in rep.rate_bits_per_sample)
    # finer quantisation (larger gain) never costs fewer bits under the model's own entropy model
    assert list(rep.rate_bits_per_sample) == sorted(rep.rate_bits_per_sample)
    assert "transform ceiling" in rep.table()


def test_gains_are_matched_by_lambda_value_and_extrapolated_by_theory():
    from tools.train import GAIN_SLOPE_PER_LOG_LAMBDA, gains_for_lambdas

    src = torch.tensor([[0.0, 1.0], [0.5, 2.0], [1.0, 3.0]])
    lams = [0.01, 0.04, 0.16]
    g = gains_for_lambdas(src, lams, [0.04, 0.02, 0.64, 0.0025])
    assert torch.allclose(g[0], src[1])  # the same lambda: the same row
    assert torch.allclose(g[1], src[0] * 0.5 + src[1] * 0.5)  # halfway in log lambda
    assert torch.allclose(g[2], src[2] + GAIN_SLOPE_PER_LOG_LAMBDA * np.log(4.0))  # beyond: +0.5 ln(4)
    assert torch.allclose(g[3], src[0] - GAIN_SLOPE_PER_LOG_LAMBDA * np.log(4.0))
    five = ScaleHyperprior(HyperpriorConfig(bands=1, n=8, m=16, nz=8, lambdas=(0.01, 0.02, 0.04, 0.08, 0.16)))
    other = ScaleHyperprior(HyperpriorConfig(bands=1, n=8, m=16, nz=8, lambdas=(0.04, 0.16, 0.64)))
    init_from_weights(other, five.state_dict(), src_lambdas=five.config.lambdas)
    assert torch.allclose(other.log_gain[0], five.log_gain[2]) and torch.allclose(other.log_gain[1], five.log_gain[4])


def test_gain_learning_rate_multiplier_moves_the_gains_faster(image_folder, tmp_path):
    moved = []
    for mult in (1.0, 20.0):
        torch.manual_seed(0)
        start = ScaleHyperprior(HyperpriorConfig(bands=3, n=8, m=16, nz=8)).log_gain.detach().clone()
        w = train(str(image_folder), str(tmp_path / f"run{mult}"), steps=4, gain_lr_mult=mult, **TINY)
        end = torch.load(w, weights_only=False)["model"]["log_gain"]
        moved.append(float((end - start).abs().max()))
    assert moved[1] > 5 * moved[0]


def test_spectral_training_on_klt_components(tmp_path):
    """A 2-step smoke run of ``--spectral klt`` on a manifest folder with one small cube."""
    import json

    rng = np.random.default_rng(0)
    d = tmp_path / "data"
    (d / "hsi").mkdir(parents=True)
    base = rng.integers(0, 2000, (80, 80, 1))
    cube = (base * np.linspace(1, 2, 20) + rng.integers(0, 50, (80, 80, 20))).astype(np.uint16)
    np.savez(d / "hsi" / "c.npz", data=cube)
    (d / "manifest.json").write_text(json.dumps({"files": [
        {"file": "hsi/c.npz", "shape": [80, 80, 20], "purpose": "train"}]}))
    w = train(str(d), str(tmp_path / "run"), steps=2, cluster_bands=1, spectral="klt", **TINY)
    ck = torch.load(w, weights_only=False)
    assert ck["config"]["spectral"] == "klt" and ck["config"]["cluster_bands"] == 1
    with pytest.raises(ValueError, match="cluster_bands"):
        train(str(d), str(tmp_path / "run2"), steps=1, spectral="klt", **TINY)
    # the image mix adds pseudo-components of the folder's RGB train images, and is recorded in the command
    from PIL import Image

    (d / "rgb").mkdir()
    Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(d / "rgb" / "a.png")
    (d / "manifest.json").write_text(json.dumps({"files": [
        {"file": "hsi/c.npz", "shape": [80, 80, 20], "purpose": "train"},
        {"file": "rgb/a.png", "shape": [96, 96, 3], "purpose": "train"}]}))
    train(str(d), str(tmp_path / "run3"), steps=2, cluster_bands=1, spectral="klt", image_mix=0.5, **TINY)
    cmd = json.loads((tmp_path / "run3" / "train_command.json").read_text())
    assert "--image-mix 0.5" in cmd["command"] and cmd["images_used"] == 2
    with pytest.raises(ValueError, match="image_mix"):
        train(str(d), str(tmp_path / "run4"), steps=1, cluster_bands=1, image_mix=0.5, **TINY)
