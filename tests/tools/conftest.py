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


def log_steps(run: Path) -> list[int]:
    """The steps a training run folder's ``train_log.csv`` records, in order."""
    rows = (Path(run) / "train_log.csv").read_text().strip().splitlines()[1:]
    return [int(r.split(",")[0]) for r in rows]
