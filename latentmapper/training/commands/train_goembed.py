"""Train the GOEmbed encoder: posed renders of a shape -> its DIT code (issue 9).

    python train/train_goembed.py --dataset data/car --latents runs/ship/car/dit \\
        [--val-latents runs/ship/car/validation_latents.safetensors] --preset cpu --output runs/goembed/car \\
        [--resume | --overwrite] [--fp16]

Each step takes a batch of training shapes and, for the whole batch, a number of views k
drawn from 1..``max_views``; every shape gets its own random k of its 9 renders with their
cameras. The loss is the L1 distance of the predicted code to the shape's DIT code (the
auto-decoder's codes, ``RUN/latents.safetensors``), plus, with ``rerender_weight`` > 0, the
squared error of re-rendering the decoded representation at one view the encoder did not see.
Training goes through the gradient-origin embedding (second order).

Early stopping, as for the mapper: every ``eval_every`` steps the L1 on the validation
shapes (codes from ``--val-latents`` or the latents file; else ``holdout_fraction`` of the
training shapes) is measured from 1 view and from 3 views, and the best encoder by their
mean is saved to ``OUTPUT/goembed/``. At the end, ``OUTPUT/pipeline/`` holds a
``GOEmbedPipeline`` of that encoder and the run's DIT decoder. ``--resume`` continues from
``OUTPUT/checkpoint-goembed/`` exactly (batches and views are drawn from the step number).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from latentmapper.atomic import atomic_path
from latentmapper.pipelines import GOEmbedPipeline
from latentmapper.models.goembed import GOEmbedEncoder
from latentmapper.training.devices import make_accelerator
from latentmapper.training.goembed_fitting import fit_goembed
from latentmapper.training.latent_codes import load_latents
from latentmapper.atomic import write_json
from latentmapper.training.presets import add_common_arguments, config_from_args
from latentmapper.training.split_latents import load_decoder
from latentmapper.training.view_sets import load_view_set


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path, help="built dataset (python -m latentmapper.data build)")
    parser.add_argument("--latents", required=True, type=Path, help="DIT run folder (decoder/, latents.safetensors)")
    parser.add_argument("--val-latents", type=Path, default=None,
                        help="codes of validation shapes, if not in --latents")
    parser.add_argument("--limit", type=int, default=None, help="only the first N shapes of each split (smoke runs)")
    parser.add_argument("--fp16", action="store_true", help="save the pipeline's parameters as float16")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args, "goembed", presets_dir)
    train_cfg = config["training"]
    accelerator = make_accelerator(config)

    latents = load_latents(args.latents)
    if args.val_latents is not None:
        latents = {**latents, **load_latents(args.val_latents)}
    image_size = int(config["model"]["image_size"])
    train = load_view_set(args.dataset, "train", image_size, args.limit)
    keep = [i for i, sid in enumerate(train.shape_ids) if sid in latents]
    if not keep:
        raise SystemExit(f"none of the {len(train.shape_ids)} training shapes has a code in {args.latents}")
    if len(keep) < len(train.shape_ids):
        accelerator.print(f"warning: {len(train.shape_ids) - len(keep)} training shapes have no code; skipped")
    train = train.select(keep)
    val = load_view_set(args.dataset, "validation", image_size, args.limit)
    val = val.select(i for i, sid in enumerate(val.shape_ids) if sid in latents)
    validation = "validation split"
    if not val.shape_ids:
        order = torch.randperm(len(train.shape_ids), generator=torch.Generator().manual_seed(config["seed"])).tolist()
        held = max(1, round(len(order) * train_cfg["holdout_fraction"]))
        val, train = train.select(order[:held]), train.select(order[held:])
        validation = f"{held} held-out training shapes (no validation codes given)"
        accelerator.print(f"warning: no codes for the validation shapes; early stopping on {validation}")
    train_targets = torch.stack([latents[s] for s in train.shape_ids])
    val_targets = torch.stack([latents[s] for s in val.shape_ids])
    accelerator.print(f"goembed: {len(train.shape_ids)} training shapes x {train.views.shape[1]} views, "
                      f"selection on {len(val.shape_ids)} shapes of the {validation}")

    state, params = fit_goembed(config, train, val, train_targets, val_targets, args.output, accelerator,
                                resume=args.resume, overwrite=args.overwrite)
    best_dir = args.output / "goembed"

    if accelerator.is_main_process:
        best = GOEmbedEncoder.from_pretrained(best_dir)
        pipe = GOEmbedPipeline(goembed=best, dit=load_decoder(args.latents, "cpu"), category=_category(args.dataset))
        if args.fp16:
            for module in (pipe.goembed, pipe.dit):
                for param in module.parameters():
                    param.data = param.data.half()
        with atomic_path(args.output / "pipeline", is_dir=True) as tmp:
            pipe.save_pretrained(tmp)
        mean_l1 = float(F.l1_loss(train_targets.mean(0).expand_as(val_targets), val_targets))
        summary = {"steps": state["step"], "best_step": state["best_step"], "best_val_l1": state["best_val"],
                   "val_l1_mean_code": mean_l1, "parameters": params, "float16_megabytes": 2 * params / 1e6,
                   "validation": validation, "minutes": round(state["seconds"] / 60, 1), "config": config,
                   "history": state["history"]}
        write_json(args.output / "goembed_log.json", summary)
        last = state["history"][-1] if state["history"] else {}
        accelerator.print(f"goembed: best validation L1 {state['best_val']:.4g} at step {state['best_step']} "
                          f"(mean code {mean_l1:.4g}; last: 1 view {last.get('val_l1_1_view', float('nan')):.4g}, "
                          f"3 views {last.get('val_l1_3_views', float('nan')):.4g}) -> {best_dir}, "
                          f"{args.output / 'pipeline'}")
    return 0


def _category(dataset: Path) -> str:
    import json

    try:
        return str(json.loads((Path(dataset) / "latentmapper_build.json").read_text())["category"])
    except (OSError, KeyError, ValueError):
        return "object"
