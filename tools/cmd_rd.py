"""``satcomp rd``: rate–distortion of model packages against JPEG 2000 (and KLT + JPEG 2000 for cubes)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from tools import rd

    p = sub.add_parser("rd", help="rate-distortion of packages vs JPEG 2000 baselines: table, BD-rate, plot, JSON")
    rd.add_arguments(p)
    p.set_defaults(func=rd.run)
