"""Train the real-to-synthetic translator: a CycleGAN on two unaligned image folders (paper Sec. 3.3).

    python -m latentmapper.photo stand-in --out runs/cyclegan/data --dataset data/car data/airplane
    python train/train_cyclegan.py --photos runs/cyclegan/data/photos_prepared --renders runs/cyclegan/data/renders
        --preset cpu --output runs/cyclegan [--resume | --overwrite] [--max-minutes M]

The standard CycleGAN (Zhu et al. 2017): generators G: photo -> render and F: render -> photo,
PatchGAN discriminators D_render and D_photo, least-squares GAN losses, cycle loss with
lambda 10, identity loss (0.5 lambda), image pools of 50 fakes, Adam (2e-4, betas 0.5/0.999),
constant learning rate for the first half of the steps and a linear decay to zero after.
Each step draws a random batch from each folder (the folders need not match in size or
order); images are resized to the preset's ``image_size`` and randomly mirrored.

G is the pipeline's ``translator``: ``OUTPUT/translator/`` (safetensors + config.json),
attach it with ``pipe.translator = ResnetGenerator.from_pretrained(...)``. F is kept in
``OUTPUT/render_to_photo/``. ``OUTPUT/checkpoint-cyclegan/`` holds all four networks, both
optimizers and both pools, written atomically every ``checkpoint_every_steps`` steps, so
``--resume`` continues exactly. ``OUTPUT/cyclegan_log.json`` has the loss history and
``OUTPUT/samples.png`` shows held-out photos and their translations.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from latentmapper.training.cyclegan_fitting import load_folder, train_cyclegan
from latentmapper.training.presets import add_common_arguments, config_from_args


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", required=True, type=Path, help="folder of photos (what the translator gets)")
    parser.add_argument("--renders", required=True, type=Path, help="folder of renders (what it should produce)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this long")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args, "cyclegan", presets_dir)
    if config.get("num_threads"):
        torch.set_num_threads(int(config["num_threads"]))
    size = config["image_size"]
    photos, renders = load_folder(args.photos, size), load_folder(args.renders, size)
    held = max(1, min(8, len(photos) // 20))  # shown in samples.png, never trained on
    args.output.mkdir(parents=True, exist_ok=True)
    train_cyclegan(config, photos[held:], renders, args.output, resume=args.resume, overwrite=args.overwrite,
                   max_minutes=args.max_minutes, held_out=photos[:held])
    return 0

