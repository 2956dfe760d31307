"""Train the IM-NET-style baseline: fixed-view grayscale render -> ResNet -> DIT latent (paper App. B).

    python train/train_imnet_baseline.py --dataset data/car --latents runs/ship/car/dit \\
        --val-latents runs/ship/car/validation_latents.safetensors --preset cpu \\
        --output runs/baselines/car/imnet [--resume | --overwrite]

As the paper ran IM-NET: a ResNet encoder sees one grayscale image per training shape, the
fixed view (yaw 0), and learns with a mean squared loss to regress that shape's code under
a frozen implicit decoder, here the same DIT the LatentMapper decodes with (its training
codes, ``RUN/latents.safetensors``). Random zoom and rotation (white fill) augment the
images. Adam, early stopping on the validation split's loss (codes fitted to the
validation shapes, as the mapper's early stopping uses); the best model is saved to
``OUTPUT/imnet/`` (``ImNetBaseline.from_pretrained``), a checkpoint every epoch
(``OUTPUT/checkpoint-imnet``), and the history to ``OUTPUT/imnet_log.json``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from latentmapper.models.baselines import ImNetBaseline
from latentmapper.training.checkpoints import checkpoint_for
from latentmapper.training.devices import make_accelerator
from latentmapper.training.fixed_views import augmented, fixed_view_pixels
from latentmapper.training.latent_codes import load_latents
from latentmapper.atomic import write_json
from latentmapper.training.outputs import save_component
from latentmapper.training.presets import add_common_arguments, config_from_args
from latentmapper.training.vector_fitting import fit_vector_model


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path, help="a saved DatasetDict (train/validation/test)")
    parser.add_argument("--latents", required=True, type=Path, help="DIT run folder or its latents.safetensors")
    parser.add_argument("--val-latents", required=True, type=Path, help="codes fitted to validation shapes")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args, "imnet", presets_dir)
    accelerator = make_accelerator(config)
    model_cfg = config["model"]
    size, gray = model_cfg["image_size"], model_cfg["grayscale"]

    latents, val_latents = load_latents(args.latents), load_latents(args.val_latents)
    train_ids, train_pixels, _ = fixed_view_pixels(args.dataset, "train", size, gray, wanted=set(latents))
    val_ids, val_pixels, _ = fixed_view_pixels(args.dataset, "validation", size, gray, wanted=set(val_latents))
    train_target = torch.stack([latents[s] for s in train_ids])
    val_target = torch.stack([val_latents[s] for s in val_ids])
    accelerator.print(f"imnet: {len(train_ids)} training and {len(val_ids)} validation shapes, fixed view, "
                      f"{size} px {'grayscale' if gray else 'RGB'}, latent {train_target.shape[1]}")

    torch.manual_seed(config["seed"])
    model = ImNetBaseline(latent_size=train_target.shape[1], **model_cfg)
    model.set_normalization(train_target)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"], weight_decay=config.get("weight_decay", 0.0))
    model, optimizer = accelerator.prepare(model, optimizer)
    augment, seed = config.get("augment", {}), config["seed"]

    def loss_fn(net, pixels: torch.Tensor, target: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(net(augmented(pixels, rows, net.training, augment, seed)), target)

    resume_from = checkpoint_for(args.output, "checkpoint-imnet", resume=args.resume, overwrite=args.overwrite)
    best_dir = args.output / "imnet"
    state = fit_vector_model(
        name="imnet", accelerator=accelerator, model=model, optimizer=optimizer, loss_fn=loss_fn,
        train_tensors=[train_pixels, train_target, torch.arange(len(train_ids))],
        val_tensors=[val_pixels, val_target, torch.arange(len(val_ids))],
        epochs=config["max_epochs"], batch_size=config["batch_size"], seed=seed,
        checkpoint_dir=args.output / "checkpoint-imnet", resume_from=resume_from, patience=config["patience"],
        on_improvement=lambda m: save_component(m, best_dir),
    )
    if accelerator.is_main_process:
        mean_mse = float(F.mse_loss(train_target.mean(0).expand_as(val_target), val_target))
        write_json(args.output / "imnet_log.json", {
            "epochs": state["epoch"], "stopped_early": state["stopped_early"], "best_epoch": state["best_epoch"],
            "val_mse": state["best_val"], "val_mse_of_mean_latent": mean_mse, "train_shapes": len(train_ids),
            "val_shapes": len(val_ids), "seconds": round(state["seconds"], 1), "config": config,
            "history": state["history"]})
        accelerator.print(f"imnet: best validation MSE {state['best_val']:.4g} at epoch {state['best_epoch']} "
                          f"(predicting the mean latent: {mean_mse:.4g}) -> {best_dir}")
    return 0
