"""The ``latentmapper`` command: one entry point for the user commands.

``latentmapper data ...`` is the dataset command line (the same as ``python -m latentmapper.data``).
"""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentmapper", description="LatentMapper: single-view 3D reconstruction")
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="build, push, pull or import shape datasets", add_help=False)
    data.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "data":
        from .data.cli import main as data_main

        return data_main(args.args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
