"""Package format 1 (gain folded into the graphs, every file a package's own) against format 2 (one set of
graphs per family, the gain in ``rate.npz``): the zoo ships format 2 only, and packages exported before it must
still load and decode bit-exactly."""
from __future__ import annotations

import numpy as np

import ground
import onboard
from ground.metrics import psnr_db
from ground.verify import verify_variant
from tests.conftest import build_tiny_package, tiny_images


def test_format_1_package_loads_and_decodes_bit_exactly(tiny_format1_package):
    pkg = tiny_format1_package
    assert pkg.format_version == 1 and pkg.gain is None and pkg.inverse_gain is None
    img = tiny_images(3, seed=5)[0]
    for variant in ("int8", "fp32"):
        rep = verify_variant(img, pkg, variant)
        assert rep.ok, rep


def test_format_1_and_format_2_of_one_model_code_alike(tiny_format1_package, tmp_path):
    """The same tiny model (seed 0, rate 0) written in both formats: format 2 multiplies g_a's output by the
    gain at run time where format 1 folded it into the weights, so the two encoders round nearly the same
    latents and decode to nearly the same image (float rounding flips a few indexes, nothing more)."""
    v2 = onboard.load_package(build_tiny_package(tmp_path / "tiny-q0", seed=0))
    assert v2.format_version == 2 and v2.gain is not None
    img = tiny_images(3, seed=5)[1]
    out = {}
    for pkg in (tiny_format1_package, v2):
        coded = onboard.encode_image(img, pkg, precision="fp32", rd_weight=0.0, deadzone=0.0)
        rec = ground.decode_image(coded.to_bytes(), pkg)
        out[pkg.format_version] = (coded.nbytes, psnr_db(img, rec, 8))
    (n1, p1), (n2, p2) = out[1], out[2]
    assert abs(n1 - n2) <= 0.02 * n2, out
    assert abs(p1 - p2) < 0.1, out
