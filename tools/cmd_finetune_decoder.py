"""``satcomp finetune-decoder``: fine-tune the ground decoder g_s on what the onboard encoder sends (torch)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from tools import finetune_decoder

    p = sub.add_parser("finetune-decoder",
                       help="fine-tune g_s alone on the integer latents exported packages send (torch)")
    finetune_decoder.add_arguments(p)
    p.set_defaults(func=finetune_decoder.run)
