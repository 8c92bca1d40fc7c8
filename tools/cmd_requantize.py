"""``satcomp requantize``: rebuild packages' int8 encoder graphs from their fp32 graphs (no checkpoint needed)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from tools import requantize

    p = sub.add_parser("requantize", help="rebuild the int8 g_a/h_a of packages from their fp32 graphs "
                                          "(another float depth, or calibration on your own imagery)")
    requantize.add_arguments(p)
    p.set_defaults(func=requantize.run)
