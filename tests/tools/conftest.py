"""Fixtures of the tools tests."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "onboard" / "data"


@pytest.fixture()
def image_folder(tmp_path):
    """A folder holding copies of the bundled sample images (what the training smoke tests crop)."""
    d = tmp_path / "data"
    d.mkdir()
    for f in SAMPLES.glob("*.png"):
        shutil.copy(f, d / f.name)
    return d
