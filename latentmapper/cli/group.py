"""What every command group shares: its sub-command under ``latentmapper`` and its ``python -m`` alias.

A group module defines ``add_commands(parser)`` (its sub-commands and options, ``run`` as the
parser's default) and ``run(args, argv)``; these two functions turn that into the
``latentmapper <group>`` sub-command and the stand-alone parser of ``python -m latentmapper.<group>``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

AddCommands = Callable[[argparse.ArgumentParser], None]


def add_group(sub, name: str, help: str, doc: str | None, add_commands: AddCommands) -> argparse.ArgumentParser:
    """``latentmapper <name>`` as a sub-command of ``sub`` (the top-level parser's sub-parsers)."""
    parser = sub.add_parser(name, help=help, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_commands(parser)
    return parser


def alias_parser(prog: str, doc: str | None, add_commands: AddCommands) -> argparse.ArgumentParser:
    """The stand-alone parser of ``python -m latentmapper.<group>``: the same commands."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_commands(parser)
    return parser


def run_alias(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse ``argv`` (default the process's) with ``parser`` and run the chosen command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    return args.run(args, argv)
