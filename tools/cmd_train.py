"""``satcomp train``: train or resume the variable-rate scale hyperprior (needs torch)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from tools import train

    p = sub.add_parser("train", help="train/resume a scale-hyperprior model (torch)")
    train.add_arguments(p)
    p.set_defaults(func=train.run)
