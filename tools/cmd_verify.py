"""``satcomp verify``: bit-exactness of every encoder variant against the ground decoder."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from tools import verify

    p = sub.add_parser("verify", help="check that the ground decodes exactly what each encoder variant coded")
    verify.add_arguments(p)
    p.set_defaults(func=verify.run)
