"""Train the AtlasNet-25 baseline: fixed-view grayscale render -> 25 square patches, Chamfer loss.

    python train/train_atlasnet.py --dataset data/car --preset cpu --output runs/baselines/car/atlasnet
        [--resume | --overwrite]

AtlasNet (Groueix et al. 2018) with 25 square patches, trained for single-view
reconstruction on the fixed view (yaw 0) of every training shape, as the paper trained its
baselines. Each step samples ``points_per_patch`` random points of the unit square per
patch and ``target_points`` of the shape's surface samples, and minimises the Chamfer
distance between the two sets (the metric of Table 3). The image encoder and the patch
decoders train together from the image, AtlasNet's own single-view set-up (the paper's
App. B froze decoders pretrained as an autoencoder first; one stage is what the CPU
budget allows). Validation: Chamfer on the validation split's fixed views with a regular
grid on every patch, no augmentation; early stopping on it. The best model is saved to
``OUTPUT/atlasnet/`` (``AtlasNet.from_pretrained``), a checkpoint every epoch.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from latentmapper.models.baselines import AtlasNet, chamfer_loss, square_grid
from latentmapper.training.checkpoints import checkpoint_for
from latentmapper.training.devices import make_accelerator
from latentmapper.training.fixed_views import augmented, fixed_view_pixels
from latentmapper.atomic import write_json
from latentmapper.training.outputs import save_component
from latentmapper.training.presets import add_common_arguments, config_from_args
from latentmapper.training.vector_fitting import fit_vector_model


def surface_tensor(values: list, count: int) -> torch.Tensor:
    """(N, count, 3) float32: the first ``count`` surface samples of each shape (they are in random order)."""
    return torch.from_numpy(np.stack([np.asarray(v, dtype=np.float32).reshape(-1, 3)[:count] for v in values]))


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path, help="a saved DatasetDict (train/validation/test)")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args, "atlasnet", presets_dir)
    accelerator = make_accelerator(config)
    model_cfg, train_cfg = config["model"], config["train"]
    size, gray = model_cfg["image_size"], model_cfg["grayscale"]

    train_ids, train_pixels, train_extra = fixed_view_pixels(args.dataset, "train", size, gray, ("surface_points",))
    val_ids, val_pixels, val_extra = fixed_view_pixels(args.dataset, "validation", size, gray, ("surface_points",))
    train_points = surface_tensor(train_extra["surface_points"], train_cfg["pool_points"])
    val_points = surface_tensor(val_extra["surface_points"], train_cfg["val_target_points"])
    accelerator.print(f"atlasnet: {len(train_ids)} training and {len(val_ids)} validation shapes, fixed view, "
                      f"{model_cfg['num_patches']} patches")

    seed, augment = config["seed"], train_cfg.get("augment", {})
    torch.manual_seed(seed)
    model = AtlasNet(**model_cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg["lr"])
    model, optimizer = accelerator.prepare(model, optimizer)
    val_uv, _ = square_grid(train_cfg["val_grid_size"])

    def loss_fn(net, pixels: torch.Tensor, points: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        x = augmented(pixels, rows, net.training, augment, seed)
        if not net.training:
            return chamfer_loss(net(x, val_uv.to(x.device)).flatten(1, 2), points)
        key = int(rows.long().sum()) * 7919 + len(rows)
        generator = torch.Generator().manual_seed(seed * 1_000_003 + key)
        uv = torch.rand(net.config.num_patches, train_cfg["points_per_patch"], 2, generator=generator).to(x.device)
        pick = torch.stack([torch.randperm(points.shape[1], generator=generator)[: train_cfg["target_points"]]
                            for _ in range(len(rows))]).to(points.device)
        target = torch.gather(points, 1, pick[..., None].expand(-1, -1, 3))
        return chamfer_loss(net(x, uv).flatten(1, 2), target)

    resume_from = checkpoint_for(args.output, "checkpoint-atlasnet", resume=args.resume, overwrite=args.overwrite)
    best_dir = args.output / "atlasnet"
    state = fit_vector_model(
        name="atlasnet", accelerator=accelerator, model=model, optimizer=optimizer, loss_fn=loss_fn,
        train_tensors=[train_pixels, train_points, torch.arange(len(train_ids))],
        val_tensors=[val_pixels, val_points, torch.arange(len(val_ids))],
        epochs=train_cfg["max_epochs"], batch_size=train_cfg["batch_size"], seed=seed,
        checkpoint_dir=args.output / "checkpoint-atlasnet", resume_from=resume_from, patience=train_cfg["patience"],
        on_improvement=lambda m: save_component(m, best_dir),
    )
    if accelerator.is_main_process:
        write_json(args.output / "atlasnet_log.json", {
            "epochs": state["epoch"], "stopped_early": state["stopped_early"], "best_epoch": state["best_epoch"],
            "val_chamfer_x1e3": 1e3 * state["best_val"], "train_shapes": len(train_ids), "val_shapes": len(val_ids),
            "seconds": round(state["seconds"], 1), "config": config, "history": state["history"]})
        accelerator.print(f"atlasnet: best validation Chamfer x10^3 {1e3 * state['best_val']:.4g} at epoch "
                          f"{state['best_epoch']} -> {best_dir}")
    return 0
