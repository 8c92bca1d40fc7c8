"""``satcomp export``: model packages from a training checkpoint (needs torch)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from tools import export

    p = sub.add_parser("export", help="write model packages (ONNX fp32/int8, integer h_s, tables) from a checkpoint")
    export.add_arguments(p)
    p.set_defaults(func=export.run)
