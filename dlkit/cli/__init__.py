"""The ``dlkit`` command: one parser, subcommands registered by each module.

``doctor`` (is this machine ready?) stands on the teaching wing; ``release``, ``check`` and
``grade`` stand on the grading wing.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from dlkit import __version__
    from dlkit.cli import doctor, grading

    parser = argparse.ArgumentParser(
        prog="dlkit",
        description="dlkit: run, check and grade the deep-learning course.",
    )
    parser.add_argument("--version", action="version", version=f"dlkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    doctor.register(subparsers)
    grading.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
