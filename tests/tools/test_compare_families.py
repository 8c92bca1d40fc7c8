"""tools.compare_families: how families and inputs are named, and one small comparison."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from onboard import zoo
from tools.compare_families import family_packages, main, split_spec


def test_families_are_prefixes_folders_or_lists(tmp_path):
    assert [p.name for p in family_packages("hp-rgb-q0,hp-rgb-q3")] == ["hp-rgb-q0", "hp-rgb-q3"]
    assert len(family_packages("hp-rgb")) >= 4
    # a folder of packages comes in the zoo's order: family, then rate index (qm2 < qm1 < q0 < ... < q7)
    names = [p.name for p in family_packages(str(zoo.path_of("cc-klt-q0").parent))]
    assert names == zoo.available()
    assert names.index("cc-klt-qm2") < names.index("cc-klt-qm1") < names.index("cc-klt-q0") < names.index("cc-klt-q7")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no package folders"):
        family_packages(str(tmp_path / "empty"))
    assert split_spec("a.npz:1@B4+B3+B2") == ("a.npz:1", ["B4", "B3", "B2"])


def test_a_family_against_itself_and_another(tmp_path, capsys):
    # (BD-rate fits a cubic: four points per family)
    yy, xx = np.mgrid[0:96, 0:96]
    lum = 900 + 700 * (0.5 + 0.5 * np.sin(yy / 6.0) * np.cos(xx / 9.0)) ** 2
    img = np.clip(lum[:, :, None] * np.array([1.0, 0.9, 0.8]), 0, 16383).astype(np.uint16)
    img[:3, :3] = 16000
    np.save(tmp_path / "x.npy", img)
    out = tmp_path / "c.json"
    assert main([str(tmp_path / "x.npy"), "--family", "hp-rgb-q0,hp-rgb-q1,hp-rgb-q2,hp-rgb-q3",
                 "--family", "hp-rgb-q0,hp-rgb-q1,hp-rgb-q2,hp-rgb-q3",
                 "--family", "hp-rgb-q2,hp-rgb-q3,hp-rgb-q4,hp-rgb-q5",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    row = doc["per_input"][0]
    assert len(row["vs_jpeg2000"]) == 3 and all(math.isfinite(v) for v in row["vs_jpeg2000"])
    assert row["vs_jpeg2000"][0] == row["vs_jpeg2000"][1] and abs(row["vs_first"][0]) < 1e-9  # deterministic
    assert row["vs_first"][1] != 0.0
    assert "mean over 1 inputs" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(tmp_path / "x.npy"), "--family", "hp-rgb"])
    # a family of three points has no BD-rate (the cubic needs four): strict JSON, null
    assert main([str(tmp_path / "x.npy"), "--family", "hp-rgb-q0,hp-rgb-q1,hp-rgb-q2,hp-rgb-q3",
                 "--family", "hp-rgb-q0,hp-rgb-q2,hp-rgb-q4", "--json", str(out)]) == 0
    doc = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert doc["per_input"][0]["vs_jpeg2000"][1] is None and doc["mean_vs_first"] == [None]
