"""Train the Deep Implicit Templates decoder as an auto-decoder (one learnable code per shape).

    python train/train_dit.py --dataset data/car --preset cpu --output runs/car/dit [--resume]

Reads the dataset's ``train`` split (``shape_id``, ``sdf_samples``), and writes

    OUTPUT/decoder/              the decoder (save_pretrained: config.json + safetensors)
    OUTPUT/latents.safetensors   one code per training shape, keyed by shape_id
    OUTPUT/train_log.jsonl       one line per epoch: losses, learning rates, speed
    OUTPUT/checkpoint/           the latest state, for --resume (safetensors + JSON only)

The loop is ``latentmapper.training.dit_fitting``: DIT's objective and schedules, fresh
balanced SDF samples each epoch, single-threaded CPU workers on a small machine. Every
output is written to a temporary name and renamed, so an interrupted run leaves the last
checkpoint intact; ``--resume`` continues from it and repeats an uninterrupted run exactly.
``max_minutes`` stops early (writing all outputs) when time runs out.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from latentmapper.training.dit_fitting import dit_settings, fit_dit
from latentmapper.training.presets import add_config_arguments, config_from_args

COMMAND_LINE_SETTINGS = ("epochs", "samples_per_shape", "shapes_per_batch", "max_minutes", "seed")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="a datasets.load_from_disk folder with a train split")
    p.add_argument("--output", required=True, help="run folder (decoder/, latents.safetensors, logs, checkpoint/)")
    add_config_arguments(p)
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint if present")
    p.add_argument("--epochs", type=int)
    p.add_argument("--samples-per-shape", dest="samples_per_shape", type=int)
    p.add_argument("--shapes-per-batch", dest="shapes_per_batch", type=int)
    p.add_argument("--max-shapes", dest="max_shapes", type=int, help="use only the first N training shapes")
    p.add_argument("--max-minutes", dest="max_minutes", type=float, help="stop (and write outputs) after this long")
    p.add_argument("--seed", type=int)
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    return p


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> Path:
    """Train as the command line asks; returns the run folder."""
    args = build_parser().parse_args(argv)
    config = dit_settings(config_from_args(args, "dit", presets_dir))
    for name in COMMAND_LINE_SETTINGS:
        value = getattr(args, name)
        if value is not None:
            config["training"][name] = value
    return fit_dit(config, args.dataset, args.output, resume=args.resume, cpu=args.cpu, max_shapes=args.max_shapes)
