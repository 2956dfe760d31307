"""Train the descriptor autoencoder on the cached bag-of-descriptors vectors (paper Sec. 3.2).

    python train/train_autoencoder.py --features runs/features --preset cpu --output runs/autoencoder
        [--resume | --overwrite]

One hidden ReLU layer each side, a 512-d bottleneck, L2 (mean squared) reconstruction loss,
Adam with its default hyper-parameters, 100 epochs over every view of every training shape;
the validation split's reconstruction loss is logged next to that of predicting the mean
vector. The output layer starts at the mean vector (bias = training mean, weights scaled by
0.1), so training begins at that baseline instead of far above it. The model of the last epoch is saved
to ``OUTPUT/autoencoder/`` (``DescriptorAutoencoder.from_pretrained``); the mapper then uses
it frozen. Checkpoints (``OUTPUT/checkpoint-autoencoder``) are written every epoch.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from latentmapper.models.autoencoder import DescriptorAutoencoder
from latentmapper.training.cached_features import load_feature_split
from latentmapper.training.checkpoints import checkpoint_for
from latentmapper.training.devices import make_accelerator
from latentmapper.atomic import write_json
from latentmapper.training.outputs import save_component
from latentmapper.training.presets import add_common_arguments, config_from_args
from latentmapper.training.vector_fitting import fit_vector_model


def reconstruction_loss(model: DescriptorAutoencoder, bag: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(model(bag).reconstruction, bag)


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", required=True, type=Path, help="precompute_features.py output")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args, "autoencoder", presets_dir)
    accelerator = make_accelerator(config)
    train = load_feature_split(args.features, "train").bag.flatten(0, 1)
    val = load_feature_split(args.features, "validation").bag.flatten(0, 1)
    accelerator.print(f"autoencoder: {train.shape[0]} training and {val.shape[0]} validation vectors of {train.shape[1]}")

    torch.manual_seed(config["seed"])
    model = DescriptorAutoencoder(input_dim=train.shape[1], hidden_dim=config["hidden_dim"], code_dim=config["code_dim"])
    with torch.no_grad():  # start from the mean vector: bag entries are small fractions, mostly zero
        model.decoder[-1].bias.copy_(train.mean(0))
        model.decoder[-1].weight.mul_(0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    model, optimizer = accelerator.prepare(model, optimizer)
    resume_from = checkpoint_for(args.output, "checkpoint-autoencoder", resume=args.resume, overwrite=args.overwrite)
    state = fit_vector_model(
        name="autoencoder", accelerator=accelerator, model=model, optimizer=optimizer, loss_fn=reconstruction_loss,
        train_tensors=[train], val_tensors=[val], epochs=config["epochs"], batch_size=config["batch_size"],
        seed=config["seed"], checkpoint_dir=args.output / "checkpoint-autoencoder", resume_from=resume_from,
    )
    if accelerator.is_main_process:
        save_component(accelerator.unwrap_model(model).eval(), args.output / "autoencoder")
        last = state["history"][-1]
        baseline = float(F.mse_loss(val, train.mean(0).expand_as(val)))
        summary = {"epochs": state["epoch"], "train_mse": last["train_loss"], "val_mse": last["val_loss"],
                   "val_mse_of_mean_vector": baseline, "config": config, "history": state["history"]}
        write_json(args.output / "autoencoder_log.json", summary)
        accelerator.print(f"autoencoder: val MSE {last['val_loss']:.3g} (predicting the mean: {baseline:.3g}) "
                          f"-> {args.output / 'autoencoder'}")
    return 0
