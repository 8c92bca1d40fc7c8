"""Ground-decoder fine-tuning: g_s alone learns from what the onboard encoder sends; the rewritten family keeps
every onboard file byte for byte, so the bitstream does not change."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ground  # noqa: E402
import onboard  # noqa: E402
from onboard.errors import PackageMismatchError  # noqa: E402
from onboard.models.export import InferenceGDN  # noqa: E402
from onboard.package import load_package  # noqa: E402
from tests.conftest import build_tiny_package, tiny_images  # noqa: E402
from tests.tools.conftest import log_steps, split_top_group  # noqa: E402
from tools.cli import main  # noqa: E402
from tools.zoo_doc import _decoder_column, finetune_chain  # noqa: E402
from tools.finetune_decoder import (  # noqa: E402
    DECODER_FILE, FamilyMismatchError, check_family, decoder_from_package, finetune_decoder, sent_latents,
    write_family,
)

TINY = dict(crop=64, batch=2, threads=1, progress=False, checkpoint_every=2)


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    root = tmp_path_factory.mktemp("fam")
    paths = build_tiny_package(root / "tinyf", lambdas=(0.005, 0.02), family=True, name="tinyf", seed=5)
    return [str(p) for p in paths]


def _held_out_mse(net, pkgs, images) -> float:
    x = np.stack([(im[:64, :64].astype(np.float32) / 255.0).transpose(2, 0, 1) for im in images])
    with torch.no_grad():
        return float(np.mean([torch.mean((net(torch.from_numpy(sent_latents(p, x, "int8", 2.5)))
                                          - torch.from_numpy(x)) ** 2).item() for p in pkgs]))


def test_decoder_read_back_from_onnx_matches_the_package_decoder(family):
    pkg = load_package(family[1])
    rng = np.random.default_rng(0)
    y = rng.integers(-4, 5, (1, pkg.latent_channels, 4, 4)).astype(np.float32)
    onnx_out = pkg.session("g_s").run(None, {"y_hat": y * pkg.inverse_gain.reshape(1, -1, 1, 1)})[0]
    with torch.no_grad():
        torch_out = decoder_from_package(pkg)(torch.from_numpy(y * pkg.inverse_gain.reshape(1, -1, 1, 1))).numpy()
    np.testing.assert_allclose(torch_out, onnx_out, rtol=1e-4, atol=1e-5)


def test_finetuning_lowers_the_error_and_resumes(family, image_folder, tmp_path):
    pkgs = [load_package(p) for p in family]
    images = tiny_images(3, seed=11)
    before = _held_out_mse(decoder_from_package(pkgs[0]), pkgs, images)
    run = tmp_path / "run"
    path = finetune_decoder(family, str(image_folder), str(run), steps=3, lr=1e-3, **TINY)
    assert torch.load(path, weights_only=False)["step"] == 3
    finetune_decoder(family, str(image_folder), str(run), steps=30, lr=1e-3, **TINY)
    assert log_steps(run) == list(range(1, 31))  # resumed at step 3, not restarted
    net = decoder_from_package(pkgs[0])
    net.load_state_dict(torch.load(run / "decoder.pt", weights_only=False)["g_s"])
    for layer in net:  # the projection keeps every GDN valid
        if isinstance(layer, InferenceGDN):
            assert float(layer.gamma.detach().min()) >= 0.0 and float(layer.beta.detach().min()) > 0.0
    after = _held_out_mse(net, pkgs, images)
    assert after < 0.9 * before, (before, after)


def test_rewritten_family_keeps_every_onboard_file_and_the_bitstream(family, image_folder, tmp_path):
    run = tmp_path / "run"
    finetune_decoder(family, str(image_folder), str(run), steps=4, lr=1e-3, **TINY)
    out = write_family(family, str(run / "decoder.pt"), str(tmp_path / "zoo"))
    img = tiny_images(3, seed=12)[0]
    for src_path, new_path in zip(family, out):
        src, new = load_package(src_path), load_package(new_path)
        assert new.name == src.name and new.package_id != src.package_id
        for name, digest in src.manifest["files"].items():
            assert (new.manifest["files"][name] == digest) == (name != DECODER_FILE), name
        finetune = new.manifest["training"]["decoder_finetune"]
        assert finetune["source_id"] == src.package_id and finetune["step"] == 4
        assert new.distortion_per_step is not None
        # same onboard graphs: with the quantiser hint out of play the chunk payloads are identical
        a = onboard.encode_image(img, src, rd_weight=0.0)
        b = onboard.encode_image(img, new, rd_weight=0.0)
        assert [c.payload for c in a.chunks] == [c.payload for c in b.chunks]
        rec = ground.decode_image(b.to_bytes(), new)
        assert rec.shape == img.shape and rec.dtype == img.dtype
        with pytest.raises(PackageMismatchError):  # scenes name the package they were coded for
            ground.decode_image(a.to_bytes(), new)


def test_only_one_format2_family_is_accepted(family, tiny_package):
    with pytest.raises(FamilyMismatchError):
        check_family([])
    with pytest.raises(FamilyMismatchError, match="not one family"):
        check_family([load_package(family[0]), tiny_package])
    with pytest.raises(FamilyMismatchError, match="not one family"):  # whatever their decoders
        check_family([load_package(family[0]), tiny_package], same_decoder=False)


def test_cli_reports_a_mixed_family_as_a_usage_error(family, tiny_package, image_folder, tmp_path, capsys):
    rc = main(["finetune-decoder", "--packages", family[0], str(tiny_package.path), "--data", str(image_folder),
               "--out", str(tmp_path / "run"), "--steps", "1", "--no-progress"])
    assert rc == 2 and "FamilyMismatchError" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # the RD weight is checked as satcomp rd checks it, before any work
        main(["finetune-decoder", "--packages", family[0], "--data", str(image_folder), "--out",
              str(tmp_path / "run"), "--rd-weight", "-1"])
    assert exc.value.code == 2 and "rd_weight must be a finite number >= 0" in capsys.readouterr().err
    rc = main(["finetune-decoder", "--packages", family[0], "--data", str(image_folder), "--out",
               str(tmp_path / "run"), "--steps", "1", "--no-progress", "--post-filter-stages", "2"])
    assert rc == 2 and "no post-filter" in capsys.readouterr().err  # stages without a width to deepen
    with pytest.raises(SystemExit) as exc:  # a negative count is a usage error before any work
        main(["finetune-decoder", "--packages", family[0], "--data", str(image_folder), "--out",
              str(tmp_path / "run"), "--post-filter-stages", "-1"])
    assert exc.value.code == 2 and "post-filter stages must be an integer >= 0" in capsys.readouterr().err


def test_writing_a_family_over_itself_replaces_its_decoder(family, image_folder, tmp_path):
    root = tmp_path / "zoo"
    shutil.copytree(Path(family[0]).parent, root)
    copies = [str(root / Path(p).name) for p in family]
    old_g_s = load_package(copies[0]).file_path(DECODER_FILE)
    run = tmp_path / "run"
    finetune_decoder(copies, str(image_folder), str(run), steps=2, lr=1e-3, **TINY)
    out = write_family(copies, str(run / "decoder.pt"), str(root), overwrite=True)
    assert not old_g_s.exists()  # pruned: no package lists it any more
    new_g_s = {load_package(p).file_path(DECODER_FILE) for p in out}
    assert len(new_g_s) == 1 and next(iter(new_g_s)).is_file()
    # a second run over the rewritten family keeps the first run's record under ``previous``
    first_id = load_package(out[0]).package_id
    run2 = tmp_path / "run2"
    finetune_decoder(copies, str(image_folder), str(run2), steps=3, lr=1e-3, **TINY)
    again = load_package(write_family(copies, str(run2 / "decoder.pt"), str(root), overwrite=True)[0])
    record = again.manifest["training"]["decoder_finetune"]
    assert record["step"] == 3 and record["source_id"] == first_id
    assert record["previous"]["step"] == 2 and "previous" not in record["previous"]
    assert [ft["step"] for ft in finetune_chain(again.manifest["training"])] == [2, 3]
    assert _decoder_column(again.manifest["training"], again.architecture) == "fine-tuned 2 + 3 steps"


def test_a_family_may_have_decoder_groups_fine_tuned_apart(family, image_folder, tmp_path):
    """Fine-tuning the top rate point alone gives it its own g_s: the family then has two decoder groups, each
    decodes its own scenes, a run over both is refused with the reason, and the store keeps both decoders."""
    low_g_s = load_package(family[0]).file_path(DECODER_FILE).name
    copies = split_top_group(family, tmp_path / "zoo", image_folder, tmp_path / "top", top=1)
    low, top = load_package(copies[0]), load_package(copies[1])
    assert low.file_path(DECODER_FILE).name == low_g_s and low.file_path(DECODER_FILE).is_file()  # kept for q0
    assert top.file_path(DECODER_FILE).name != low_g_s and top.file_path(DECODER_FILE).is_file()
    for name, digest in low.manifest["files"].items():
        assert (top.manifest["files"][name] == digest) == (name not in (DECODER_FILE, "rate.npz")), name
    check_family([low, top], same_decoder=False)
    with pytest.raises(FamilyMismatchError, match="different ground decoders"):
        check_family([low, top])
    with pytest.raises(FamilyMismatchError, match="decoder groups"):
        finetune_decoder(copies, str(image_folder), str(tmp_path / "both"), steps=1, **TINY)
    img = tiny_images(3, seed=14)[0]
    for pkg in (low, top):
        rec = ground.decode_image(onboard.encode_image(img, pkg).to_bytes(), pkg)
        assert rec.shape == img.shape


def test_a_post_filter_starts_as_the_identity_and_ships_inside_g_s(family, image_folder, tmp_path):
    pkg = load_package(family[0])
    y = torch.from_numpy(np.random.default_rng(1).integers(-3, 4, (1, pkg.latent_channels, 4, 4))
                         .astype(np.float32) * pkg.inverse_gain.reshape(1, -1, 1, 1))
    with torch.no_grad():
        np.testing.assert_array_equal(decoder_from_package(pkg, post_filter=4)(y).numpy(),
                                      decoder_from_package(pkg)(y).numpy())
    run = tmp_path / "run"
    finetune_decoder(family, str(image_folder), str(run), steps=3, lr=1e-3, post_filter=4, **TINY)
    out = write_family(family, str(run / "decoder.pt"), str(tmp_path / "zoo"))
    new = load_package(out[0])
    assert new.architecture["post_filter"] == 4
    assert "--post-filter 4" in new.manifest["training"]["decoder_finetune"]["command"]
    assert _decoder_column(new.manifest["training"], new.architecture) == "fine-tuned 3 steps, post-filter 4 ch"
    # the torch read-back (filter included) is the shipped graph, and the filter has moved from the identity
    y_in = y.numpy()
    onnx_out = new.session("g_s").run(None, {"y_hat": y_in})[0]
    with torch.no_grad():
        np.testing.assert_allclose(decoder_from_package(new)(y).numpy(), onnx_out, rtol=1e-4, atol=1e-5)
        assert float(decoder_from_package(new)[-1].f[-1].weight.abs().sum()) > 0  # it has learnt something
    img = tiny_images(3, seed=13)[0]
    rec = ground.decode_image(onboard.encode_image(img, new).to_bytes(), new)
    assert rec.shape == img.shape
    with pytest.raises(FamilyMismatchError, match="post-filter"):
        decoder_from_package(new, post_filter=8)


def test_a_weights_only_decoder_seeds_a_new_run(family, image_folder, tmp_path):
    first = finetune_decoder(family, str(image_folder), str(tmp_path / "a"), steps=2, lr=1e-3, post_filter=4,
                             **TINY)
    finetune_decoder(family, str(image_folder), str(tmp_path / "b"), steps=4, lr=1e-3, post_filter=4,
                     init_decoder=str(first), **TINY)
    assert log_steps(tmp_path / "b") == [3, 4]  # continued from the seed's step
    with pytest.raises(FamilyMismatchError, match="post-filter"):
        finetune_decoder(family, str(image_folder), str(tmp_path / "c"), steps=4, init_decoder=str(first), **TINY)


def test_post_filter_stages_deepen_a_shipped_filter_from_where_it_is(family, image_folder, tmp_path):
    from onboard.package import post_filter_spec
    from tools.finetune_decoder import filter_stages

    run = tmp_path / "one"
    finetune_decoder(family, str(image_folder), str(run), steps=2, lr=1e-3, post_filter=4, **TINY)
    one = [str(p) for p in write_family(family, str(run / "decoder.pt"), str(tmp_path / "zoo1"))]
    pkg = load_package(one[0])
    assert post_filter_spec(pkg.architecture) == (4, 1) and "post_filter_stages" not in pkg.architecture
    y = torch.from_numpy(np.random.default_rng(2).integers(-3, 4, (1, pkg.latent_channels, 4, 4))
                         .astype(np.float32) * pkg.inverse_gain.reshape(1, -1, 1, 1))
    with torch.no_grad():  # a new stage starts as the identity after the trained one
        deeper = decoder_from_package(pkg, stages=3)
        assert filter_stages(deeper) == 3
        np.testing.assert_array_equal(deeper(y).numpy(), decoder_from_package(pkg)(y).numpy())
    run2 = tmp_path / "two"
    finetune_decoder(one, str(image_folder), str(run2), steps=3, lr=1e-3, post_filter=4, post_filter_stages=2,
                     **TINY)
    two = write_family(one, str(run2 / "decoder.pt"), str(tmp_path / "zoo2"))
    new = load_package(two[0])
    assert post_filter_spec(new.architecture) == (4, 2)
    assert "--post-filter-stages 2" in new.manifest["training"]["decoder_finetune"]["command"]
    assert _decoder_column(new.manifest["training"], new.architecture).endswith("post-filter 4 ch x 2 stages")
    onnx_out = new.session("g_s").run(None, {"y_hat": y.numpy()})[0]
    with torch.no_grad():
        net = decoder_from_package(new)
        assert filter_stages(net) == 2
        np.testing.assert_allclose(net(y).numpy(), onnx_out, rtol=1e-4, atol=1e-5)
        assert float(net[-1].f[-1].weight.abs().sum()) > 0  # the new stage has learnt something
    img = tiny_images(3, seed=14)[0]
    assert ground.decode_image(onboard.encode_image(img, new).to_bytes(), new).shape == img.shape
    with pytest.raises(FamilyMismatchError, match="not dropped"):
        decoder_from_package(new, stages=1)
    with pytest.raises(FamilyMismatchError, match="no post-filter"):
        decoder_from_package(load_package(family[0]), stages=2)
    with pytest.raises(ValueError, match=">= 0"):
        decoder_from_package(new, stages=-1)
    with pytest.raises(FamilyMismatchError, match="stages"):  # a seed of another depth
        finetune_decoder(one, str(image_folder), str(tmp_path / "c"), steps=4, post_filter=4,
                         post_filter_stages=3, init_decoder=str(run2 / "decoder.pt"), **TINY)
