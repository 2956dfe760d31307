"""Train the offline default encoders on the procedural renders: a small CLIP and a small ViT.

    python train/train_encoders.py --dataset data/car data/airplane --preset cpu --output runs/encoders [--resume | --overwrite]
        [--only clip|vit]

No CLIP or DINO weights can be downloaded here, so the defaults are trained from scratch and
saved in the standard transformers format, where the same loading code reads them as it would
``openai/clip-vit-base-patch32`` or ``facebook/dino-vits8``:

* ``OUTPUT/clip/``: a ``CLIPModel`` with a small config, trained contrastively on (render,
  text) pairs, the text being the shape's caption put in a random prompt template (or the bare
  caption). Views of shapes with the same caption are all positives of each other (soft
  targets), since the procedural captions repeat. With ``clip.train.view_contrast.weight`` > 0 an
  InfoNCE between each render and another view of the same shape (colours scrambled) is added,
  so shapes that share a caption are told apart too. With ``clip.train.shape_regression.weight`` > 0
  a linear head (from zero, ``head_lr_scale`` times the learning rate) reads each shape's generator
  parameters, minus its family's mean, off the image embedding of any of its views (mean squared
  error; validation R^2 logged as ``val_shape_r2``); the head is not saved. Saved with its image processor and a
  word-level tokenizer built from the captions and templates
  (``latentmapper.training.caption_tokenizer``).
* ``OUTPUT/vit/``: a small ViT pre-trained with ``ViTMAEForPreTraining`` (masked autoencoding,
  75% of patches hidden); its encoder is saved as a plain ``ViTModel`` (the weights carry over
  name for name), so keys come from a standard ViT in natural patch order with no masking.
  The whole pre-training model is kept in ``OUTPUT/vit_mae/`` as well.

Both stages use Accelerate, show progress, checkpoint every ``checkpoint_every_steps`` steps
and at each epoch end (``OUTPUT/checkpoint-clip``, ``OUTPUT/checkpoint-vit``) and resume
exactly. The cpu preset is sized to finish both within 20 minutes on a 2-core CPU for the
default 600-shape build (the validation metrics are logged to ``OUTPUT/encoders_log.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from datasets import load_from_disk

from latentmapper.training.devices import make_accelerator
from latentmapper.training.encoder_fitting import pooled_splits, train_clip, train_vit
from latentmapper.atomic import write_json
from latentmapper.training.presets import add_common_arguments, config_from_args


SHAPE_TERM_COLUMNS = ["params", "category", "subtype"]


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path, nargs="+",
                        help="one or more saved DatasetDicts (train/validation/test); several are pooled, so one "
                             "pair of encoders serves every category, as a real CLIP / DINO does")
    parser.add_argument("--only", choices=("clip", "vit"), default=None, help="train one of the two")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args, "encoders", presets_dir)
    accelerator = make_accelerator(config)
    columns = ["shape_id", "caption", "images"]
    if float(config["clip"]["train"].get("shape_regression", {}).get("weight", 0.0)) > 0:
        columns += SHAPE_TERM_COLUMNS  # the shape term reads the generator's parameters, which not every build has
        for path in args.dataset:
            missing = [c for c in SHAPE_TERM_COLUMNS if c not in load_from_disk(str(path))["train"].column_names]
            if missing:
                raise SystemExit(f"{path} has no {missing} column: clip.train.shape_regression needs the "
                                 "procedural builds' generator parameters; leave it off for this dataset")
    dataset = pooled_splits(args.dataset, columns)
    args.output.mkdir(parents=True, exist_ok=True)
    log_path = args.output / "encoders_log.json"
    started = time.perf_counter()
    log = {}
    for stage, fn in (("clip", train_clip), ("vit", train_vit)):
        if args.only not in (None, stage):
            continue
        if (args.output / stage / "config.json").is_file() and not args.overwrite:
            if not args.resume:
                raise SystemExit(f"{args.output / stage} exists: pass --resume to keep it or --overwrite to retrain")
            accelerator.print(f"{stage}: already trained ({args.output / stage})")
            continue
        log[stage] = fn(dataset, config, accelerator, args.output, args.resume, args.overwrite)
    if accelerator.is_main_process and log:
        previous = json.loads(log_path.read_text()) if log_path.is_file() else {}
        write_json(log_path, {**previous, **log, "config": config})
    accelerator.print(f"encoders in {args.output} ({time.perf_counter() - started:.0f} s)")
    return 0

