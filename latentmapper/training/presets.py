"""A stage's settings: a preset (``<stage>_<preset>.json``) or a config file, then ``--set`` overrides.

Every training stage reads its settings the same way. The preset files live beside the
scripts (``train/configs``), so the script names that folder; ``--config FILE`` works without it.
An override is ``dotted.key=value`` with the value parsed as JSON (``training.lr_codes=0.005``,
``model.template_dims=[64,64]``), falling back to the plain string.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Iterable

PRESETS = ("cpu", "gpu")


def parse_override(item: str) -> tuple[list[str], object]:
    """``"a.b=1"`` -> (["a", "b"], 1); a value that is not JSON stays a string."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    return key.split("."), value


def apply_overrides(config: dict, overrides: Iterable[str]) -> dict:
    """``config`` with each ``dotted.key=value`` set in place (missing sections are created)."""
    for item in overrides:
        (*parents, leaf), value = parse_override(item)
        node = config
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SystemExit(f"--set {item!r}: {part!r} is not a section of the config")
        node[leaf] = value
    return config


def load_config(
    stage: str,
    preset: str = "cpu",
    config_path: str | os.PathLike | None = None,
    overrides: Iterable[str] = (),
    presets_dir: str | os.PathLike | None = None,
) -> dict:
    """The file ``config_path`` or else the preset ``presets_dir/<stage>_<preset>.json``, with ``overrides``."""
    if config_path is not None:
        path = Path(config_path)
    elif presets_dir is None:
        raise SystemExit(f"no preset folder for {stage!r}: pass --config FILE (the presets are train/configs/*.json)")
    else:
        path = Path(presets_dir) / f"{stage}_{preset}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no config {path}; presets are {' and '.join(PRESETS)}")
    return apply_overrides(json.loads(path.read_text()), overrides)


def add_common_arguments(parser: argparse.ArgumentParser, *, output_required: bool = True) -> None:
    """The arguments every stage shares: the settings (preset, file, overrides), the output and resuming."""
    add_config_arguments(parser)
    parser.add_argument("--output", required=output_required, type=Path, help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    parser.add_argument("--overwrite", action="store_true", help="start again, discarding an existing checkpoint")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--preset``, ``--config`` and ``--set``."""
    parser.add_argument("--preset", choices=PRESETS, default="cpu", help="train/configs/<stage>_<preset>.json")
    parser.add_argument("--config", default=None, help="a config JSON instead of the preset")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. train.lr=0.001 (repeatable; values are JSON)")


def config_from_args(args: argparse.Namespace, stage: str, presets_dir: str | os.PathLike | None) -> dict:
    """:func:`load_config` with the arguments of :func:`add_config_arguments`."""
    return load_config(stage, args.preset, args.config, args.set or [], presets_dir)


__all__ = ["PRESETS", "add_common_arguments", "add_config_arguments", "apply_overrides", "config_from_args",
           "load_config", "parse_override"]
