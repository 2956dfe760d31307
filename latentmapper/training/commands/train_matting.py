"""Train the learned background remover: a small U-Net from photo-like renders to their mattes.

    python train/train_matting.py --dataset data/car data/airplane --preset cpu --output runs/matting
        [--resume | --overwrite] [--max-minutes M] [--fp16]

Every step draws a fresh batch: random training-split renders of the given datasets, each
made photo-like (``latentmapper.photo.photo_like``: a random background, shadow, lighting,
camera effects, JPEG), placed at a random size and offset (the preset's ``photo_like``
ranges, wider than the renders' framing, since photos are framed anyhow) and mirrored at
random; a share ``clean_probability`` stays a clean render on white. The target is the true
matte. Loss: binary cross-entropy plus soft Dice (Dice keeps thin parts, a few pixels of a
large image, from being traded away). AdamW with a warm-up and a cosine decay. Batches are
drawn from generators seeded by (seed, step), so ``--resume`` continues exactly.

Every ``eval_every_steps`` the mean IoU (matte > 0.5) is measured on a fixed set of photo-like
*validation* renders (the first ``val_shapes`` shapes of each dataset, views 1 4 7, the
default ``PhotoLikeConfig``, as ``evaluate/evaluate_photo_mode.py`` draws them for its
test shapes) next to the classical matting's on the same images (measured once); the best
model so far is ``OUTPUT/matting/`` (``LearnedMatting.from_pretrained`` and
``load_background_remover`` load it). ``OUTPUT/matting_log.json`` holds the history.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from latentmapper.training.matting_fitting import classical_iou, load_renders, train_matting, validation_set
from latentmapper.training.presets import add_common_arguments, config_from_args


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path, nargs="+", help="built DatasetDicts (train + validation)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this long")
    parser.add_argument("--fp16", action="store_true", help="save the matting model's weights as float16")
    parser.add_argument("--no-baseline", action="store_true", help="skip the classical matting's validation IoU")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args, "matting", presets_dir)
    renders = load_renders(args.dataset, "train")
    val_images, val_mattes = validation_set(load_renders(args.dataset, "validation", config["val_shapes"]), config["seed"])
    args.output.mkdir(parents=True, exist_ok=True)
    baseline = None if args.no_baseline else round(classical_iou(val_images, val_mattes), 4)
    train_matting(config, renders, val_images, val_mattes, args.output, resume=args.resume, overwrite=args.overwrite,
                  max_minutes=args.max_minutes, fp16=args.fp16, baseline_iou=baseline)
    return 0

