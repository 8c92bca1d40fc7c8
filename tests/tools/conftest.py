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


def split_top_group(family: list[str], root: Path, image_folder: Path, run: Path, top: int) -> list[str]:
    """Copy the family ``family`` (package folders of one store) into ``root`` and give its rate points from
    position ``top`` on a ground decoder of their own: a 2-step fine-tuning in ``run`` written over the copies
    (a second decoder group). Returns the copies' paths, in the order given."""
    from tools.finetune_decoder import finetune_decoder, write_family

    shutil.copytree(Path(family[0]).parent, root)
    copies = [str(root / Path(p).name) for p in family]
    finetune_decoder(copies[top:], str(image_folder), str(run), steps=2, lr=1e-3, crop=64, batch=2, threads=1,
                     progress=False, checkpoint_every=2)
    write_family(copies[top:], str(Path(run) / "decoder.pt"), str(root), overwrite=True)
    return copies
