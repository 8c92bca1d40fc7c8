"""``satcomp`` command line: one entry point, subcommands registered by ``tools/cmd_*.py`` modules.

Each ``tools/cmd_<name>.py`` module defines ``register(subparsers)`` which adds its sub-parser and sets
``func=callable(args) -> int`` as the default. The exit status is what ``func`` returns.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import tools


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="satcomp", description="Onboard learned compression simulator")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(tools.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"tools.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from onboard.errors import SatcompError

    try:
        return int(args.func(args) or 0)
    except (SatcompError, FileNotFoundError) as exc:
        # a typed error is the user's to fix (bad package, input, scenario...): one clear line, exit 2
        print(f"satcomp {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
