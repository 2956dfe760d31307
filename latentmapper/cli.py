"""The ``latentmapper`` command: one entry point for the user commands.

``latentmapper reconstruct IMAGE ... --model PATH_OR_ID --out DIR`` makes one mesh per image;
``latentmapper data ...`` is the dataset command line (the same as ``python -m latentmapper.data``).
Heavy imports (torch, diffusers) happen inside the command that needs them.
"""

from __future__ import annotations

import argparse
import sys

from . import cli_reconstruct


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentmapper", description="LatentMapper: single-view 3D reconstruction")
    sub = parser.add_subparsers(dest="command", required=True)
    reconstruct = sub.add_parser("reconstruct", help="reconstruct a mesh from each image",
                                 description=cli_reconstruct.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    cli_reconstruct.add_arguments(reconstruct)
    data = sub.add_parser("data", help="build, push, pull or import shape datasets", add_help=False)
    data.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["data"]:  # hand everything over, options first included (argparse's REMAINDER drops them)
        from .data.cli import main as data_main

        return data_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "reconstruct":
        return cli_reconstruct.run(args)
    if args.command == "data":
        from .data.cli import main as data_main

        return data_main(args.args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
