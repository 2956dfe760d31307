"""The ``latentmapper`` command: one parser, one sub-command per group, one module per group.

    latentmapper reconstruct IMAGE ... --model PATH_OR_ID --out DIR     one mesh per image (cli/reconstruct.py)
    latentmapper data build|import-shapenet|push|pull|filter-photos ...  shape datasets (cli/data.py)
    latentmapper photo prepare|stand-in|fit-framing ...                  photo mode's tools (cli/photo.py)

``python -m latentmapper.data ...`` and ``python -m latentmapper.photo ...`` are the same
``data`` and ``photo`` groups. Each group module has ``add_parser`` (its sub-command and
options) and ``run`` (the parsed command -> exit status); heavy imports (torch, diffusers)
happen inside ``run``, so ``latentmapper --help`` stays quick.
"""

from __future__ import annotations

import argparse
import sys

from . import data, photo, reconstruct

GROUPS = (reconstruct, data, photo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentmapper", description="LatentMapper: single-view 3D reconstruction")
    sub = parser.add_subparsers(dest="group", required=True, metavar="{reconstruct,data,photo}")
    for group in GROUPS:
        group.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    return args.run(args, argv[1:])  # the group's own arguments, for commands that record how they were run
