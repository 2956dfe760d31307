"""Train the latent mapper: [frozen autoencoder code, CLIP embedding] -> DIT latent (paper Sec. 3.2).

    python train/train_mapper.py --features runs/features --autoencoder runs/autoencoder --latents runs/dit
        --preset cpu --output runs/mapper [--val-latents FILE] [--dit RUN --dataset DATA] [--init-mapper DIR]
        [--resume | --overwrite]

Inputs are every view of every training shape (9 per shape, so the mapping does not depend
on the view; with ``augmented_views`` their zoomed / rotated copies, and with ``novel_views``
renders from cameras between the 9, which then also join the validation rows); the target
of each is its shape's DIT code from ``RUN/latents.safetensors``
(the auto-decoder's codes of the training shapes, as in the paper). Three tanh hidden
layers, L1 loss, Adam with default hyper-parameters, up to 1000 epochs with early stopping
(patience 5) on the validation split's L1; the best model is saved to ``OUTPUT/mapper/``.

Validation targets: the codes of the validation shapes, taken from the latents file or from
``--val-latents`` (e.g. codes fitted with ``latentmapper.models.fit_latent``). When neither
has them, or when the config sets ``early_stopping: held_out_training_shapes`` (the presets do),
``holdout_fraction`` of the training shapes (all their views) is held out for early stopping
instead, and the log says so. Fitted validation codes lie further from the mean than the
auto-decoder's (README: What bounds identification), so stopping on them ends the fit early.

Stage 2, with ``sdf_refinement.epochs`` > 0 (needs ``--dit`` and ``--dataset``): the L1 mapper is
fine-tuned with the latent L1 plus ``weight`` x the L1 between the frozen DIT's SDF of the
predicted code and the shape's true SDF at near-surface samples
(``latentmapper.training.decoded_sdf_loss``), so that it is scored by the shape a code makes;
an epoch replaces the saved mapper only if it beats the L1 mapper on the validation rows under
that loss. ``--init-mapper DIR`` skips stage 1 and refines an already trained mapper instead
(e.g. a shipped pipeline's ``mapper/``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from latentmapper.models.mapper import LatentMapper
from latentmapper.training.autoencoder_codes import encode_bags, load_autoencoder
from latentmapper.training.cached_features import AUGMENTED_SPLIT, FeatureSplit, feature_file, load_feature_split, novel_views_split
from latentmapper.training.checkpoints import checkpoint_for
from latentmapper.training.decoded_sdf_loss import DecodedSDFLoss, near_surface_bank
from latentmapper.training.devices import make_accelerator
from latentmapper.training.latent_codes import load_latents
from latentmapper.atomic import write_json
from latentmapper.training.outputs import save_component
from latentmapper.training.presets import add_common_arguments, config_from_args
from latentmapper.training.split_latents import load_decoder
from latentmapper.training.vector_fitting import fit_vector_model


EARLY_STOPPING = ("validation_shapes", "held_out_training_shapes")
"""What the L1 stage stops on: the validation split's codes (given by --val-latents), or a
``holdout_fraction`` of the training shapes, whose codes are the auto-decoder's like the targets'."""


def rows_with_latents(split: FeatureSplit, latents: dict[str, torch.Tensor], codes: torch.Tensor):
    """Per view rows (code, clip, latent, shape index) of the shapes that have a latent."""
    keep = [i for i, sid in enumerate(split.shape_ids) if sid in latents]
    views = split.num_views
    if not keep:
        empty = codes.new_zeros(0, codes.shape[-1])
        return empty, split.clip.new_zeros(0, split.clip.shape[-1]), empty[:, :0], keep
    code = codes[keep].flatten(0, 1)
    clip = split.clip[keep].flatten(0, 1)
    target = torch.stack([latents[split.shape_ids[i]] for i in keep]).repeat_interleave(views, 0)
    return code, clip, target, keep


def row_shape_index(split: FeatureSplit, keep: list[int], index_of: dict[str, int]) -> torch.Tensor:
    """(rows,) each row's shape as a position in ``index_of`` (the SDF sample bank of the decoded loss)."""
    return torch.tensor([index_of[split.shape_ids[i]] for i in keep], dtype=torch.long).repeat_interleave(split.num_views)


def rows_of_shapes(shapes: torch.Tensor, views: int, total: int) -> torch.Tensor:
    """(total,) bool mask of the per-view rows (``views`` consecutive rows per shape) of ``shapes``."""
    mask = torch.zeros(total, dtype=torch.bool)
    mask[(shapes[:, None] * views + torch.arange(views)).flatten()] = True
    return mask


def refine_in_shape_space(args: argparse.Namespace, config: dict, accelerator, best_dir: Path,
                          train_tensors: list[torch.Tensor], val_tensors: list[torch.Tensor],
                          shape_ids: list[str]) -> dict:
    """Stage 2: the L1-trained mapper fine-tuned with the decoded SDF loss (``sdf_refinement``).

    Rows are (code, clip, target, shape index into ``shape_ids``). An epoch replaces the saved
    mapper only when its validation loss beats the stage-1 mapper's under the same loss.
    """
    refine = config["sdf_refinement"]
    decoder = load_decoder(args.dit, accelerator.device)
    bank = near_surface_bank(args.dataset, shape_ids, refine["samples_per_shape"], decoder.config.clamp_distance,
                             seed=config["seed"]).to(accelerator.device)
    loss_fn = DecodedSDFLoss(decoder, bank, points=refine["points"], weight=refine["weight"])
    model = LatentMapper.from_pretrained(best_dir)
    optimizer = torch.optim.Adam(model.parameters(), lr=refine["lr"])
    model, optimizer = accelerator.prepare(model, optimizer)
    resume_from = checkpoint_for(args.output, "checkpoint-mapper-sdf", resume=args.resume, overwrite=args.overwrite)
    model.eval()
    with torch.no_grad():
        device_val = [t.to(accelerator.device) for t in val_tensors]
        start = sum(float(loss_fn(model, *(t[i: i + 4096] for t in device_val))) * len(device_val[0][i: i + 4096])
                    for i in range(0, len(device_val[0]), 4096)) / max(1, len(device_val[0]))
    accelerator.print(f"mapper: refining in shape space (decoded SDF loss x{refine['weight']:g}); "
                      f"the L1 mapper scores {start:.4g} on it")
    state = fit_vector_model(
        name="mapper-sdf", accelerator=accelerator, model=model, optimizer=optimizer, loss_fn=loss_fn,
        train_tensors=train_tensors, val_tensors=val_tensors, epochs=refine["epochs"],
        batch_size=config["batch_size"], seed=config["seed"] + 1,
        checkpoint_dir=args.output / "checkpoint-mapper-sdf", resume_from=resume_from,
        patience=refine.get("patience"), on_improvement=lambda m: save_component(m, best_dir), baseline=start,
    )
    accelerator.print(f"mapper: refinement {start:.4g} -> {state['best_val']:.4g} on the validation rows "
                      + (f"(epoch {state['best_epoch']} kept)" if state["best_epoch"] else "(no epoch beat the L1 mapper)"))
    return {"val_loss_before": start, "val_loss": state["best_val"], "best_epoch": state["best_epoch"],
            "epochs": state["epoch"], "history": state["history"]}


def initial_mapper(folder: Path, latent_size: int, code_dim: int, clip_dim: int) -> LatentMapper:
    """The mapper ``--init-mapper`` names, checked against the features and latents it is to be refined on."""
    try:
        model = LatentMapper.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise SystemExit(f"--init-mapper {folder}: not a saved LatentMapper ({error})") from None
    have = (model.config.latent_size, model.config.code_dim, model.config.clip_dim)
    if have != (latent_size, code_dim, clip_dim):
        raise SystemExit(f"--init-mapper {folder} maps (code {have[1]}, CLIP {have[2]}) -> latent {have[0]}, but the "
                         f"features and latents here are (code {code_dim}, CLIP {clip_dim}) -> latent {latent_size}")
    return model


def mapping_loss(model: LatentMapper, code: torch.Tensor, clip: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(model(code, clip), target)


def fit_l1_mapper(args: argparse.Namespace, config: dict, accelerator, best_dir: Path,
                  train_tensors: list[torch.Tensor], val_tensors: list[torch.Tensor]) -> dict:
    """Stage 1: a fresh mapper fitted to the codes with the latent L1 (the paper's mapper), saved to ``best_dir``."""
    train_code, train_clip, train_target = train_tensors
    torch.manual_seed(config["seed"])
    model = LatentMapper(latent_size=train_target.shape[1], code_dim=train_code.shape[1], clip_dim=train_clip.shape[1],
                         hidden_size=config["hidden_size"], num_hidden_layers=config["num_hidden_layers"],
                         dropout=config.get("dropout", 0.0))
    model.set_normalization(torch.cat([train_code, train_clip], 1), train_target)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    model, optimizer = accelerator.prepare(model, optimizer)
    resume_from = checkpoint_for(args.output, "checkpoint-mapper", resume=args.resume, overwrite=args.overwrite)
    return fit_vector_model(
        name="mapper", accelerator=accelerator, model=model, optimizer=optimizer, loss_fn=mapping_loss,
        train_tensors=train_tensors, val_tensors=val_tensors,
        epochs=config["max_epochs"], batch_size=config["batch_size"], seed=config["seed"],
        checkpoint_dir=args.output / "checkpoint-mapper", resume_from=resume_from, patience=config["patience"],
        on_improvement=lambda m: save_component(m, best_dir),
    )


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", required=True, type=Path, help="precompute_features.py output")
    parser.add_argument("--autoencoder", required=True, type=Path, help="train_autoencoder.py output (or its autoencoder/)")
    parser.add_argument("--latents", required=True, type=Path, help="DIT run folder or its latents.safetensors")
    parser.add_argument("--val-latents", type=Path, default=None, help="latents of the validation shapes, if not in --latents")
    parser.add_argument("--dit", type=Path, default=None,
                        help="the DIT (train_dit.py output or its decoder/) for sdf_refinement")
    parser.add_argument("--dataset", type=Path, default=None,
                        help="the DatasetDict the features were made from (its SDF samples) for sdf_refinement")
    parser.add_argument("--init-mapper", type=Path, default=None,
                        help="skip the L1 stage: refine this trained mapper (a mapper/ folder) with sdf_refinement")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args, "mapper", presets_dir)
    early_stopping = config.get("early_stopping", EARLY_STOPPING[0])
    if early_stopping not in EARLY_STOPPING:
        raise SystemExit(f"early_stopping must be one of {', '.join(EARLY_STOPPING)}, not {early_stopping!r}")
    stop_on_held_out = early_stopping == "held_out_training_shapes"
    refining = (config.get("sdf_refinement") or {}).get("epochs", 0) > 0
    if refining and (args.dit is None or args.dataset is None):
        raise SystemExit("the config asks for sdf_refinement: give --dit (the DIT decoder) and --dataset (its SDF "
                         "samples), or set sdf_refinement.epochs to 0")
    if args.init_mapper is not None and not refining:
        raise SystemExit("--init-mapper starts the sdf_refinement stage from a trained mapper, but the config's "
                         "sdf_refinement.epochs is 0")
    accelerator = make_accelerator(config)

    autoencoder = load_autoencoder(args.autoencoder)
    latents = load_latents(args.latents)
    if args.val_latents is not None:
        latents = {**latents, **load_latents(args.val_latents)}
    index_of = {sid: i for i, sid in enumerate(sorted(latents))}
    train_split = load_feature_split(args.features, "train")
    val_split = load_feature_split(args.features, "validation")
    train_code, train_clip, train_target, train_keep = rows_with_latents(
        train_split, latents, encode_bags(autoencoder, train_split.bag))
    if not train_keep:
        raise SystemExit(f"none of the {len(train_split.shape_ids)} training shapes has a latent in {args.latents}")
    if len(train_keep) < len(train_split.shape_ids):
        accelerator.print(f"warning: {len(train_split.shape_ids) - len(train_keep)} training shapes have no latent; skipped")
    extra_splits = []
    if config.get("augmented_views", False):
        extra_splits.append((AUGMENTED_SPLIT, "augment.copies > 0", "augmented_views"))
    if config.get("novel_views", False):
        extra_splits.append((novel_views_split("train"), "novel_views.per_shape > 0", "novel_views"))
    extras = []  # (FeatureSplit, code, clip, target, shape index) of each extra set of training views
    for name, setting, key in extra_splits:
        if not feature_file(args.features, name).is_file():
            raise SystemExit(f"the config asks for {key} but {args.features} has no {name} features: run "
                             f"precompute_features.py with {setting}, or set {key} to false")
        extra = load_feature_split(args.features, name)
        code, clip, target, keep = rows_with_latents(extra, latents, encode_bags(autoencoder, extra.bag))
        extras.append((extra, code, clip, target, row_shape_index(extra, keep, index_of)))
    val_code, val_clip, val_target, val_keep = rows_with_latents(val_split, latents, encode_bags(autoencoder, val_split.bag))
    if stop_on_held_out:
        val_keep = []  # the validation shapes' codes come from fit_latent, not from the auto-decoder the targets do
    val_novel = None  # validation rows from novel views, scored apart as well
    if config.get("novel_views", False) and val_keep:
        name = novel_views_split("validation")
        if not feature_file(args.features, name).is_file():
            raise SystemExit(f"the config asks for novel_views but {args.features} has no {name} features: run "
                             "precompute_features.py with novel_views.per_shape > 0, or set novel_views to false")
        novel = load_feature_split(args.features, name)
        code, clip, target, keep = rows_with_latents(novel, latents, encode_bags(autoencoder, novel.bag))
        val_novel = (code, clip, target, row_shape_index(novel, keep, index_of))
    train_index = row_shape_index(train_split, train_keep, index_of)
    val_index = row_shape_index(val_split, val_keep, index_of)
    validation = "validation split"
    if not val_keep:
        views = train_split.num_views
        order = torch.randperm(len(train_keep), generator=torch.Generator().manual_seed(config["seed"]))
        held = order[: max(1, round(len(train_keep) * config["holdout_fraction"]))]
        mask = ~rows_of_shapes(held, views, len(train_code))
        val_code, val_clip, val_target, val_index = (t[~mask] for t in (train_code, train_clip, train_target, train_index))
        train_code, train_clip, train_target, train_index = (t[mask] for t in (train_code, train_clip, train_target,
                                                                               train_index))
        # the held-out shapes' augmented and novel views must not train the model either
        extras = [(extra, *(t[~rows_of_shapes(held, extra.num_views, len(code))] for t in (code, clip, target, index)))
                  for extra, code, clip, target, index in extras]
        if stop_on_held_out:
            validation = f"{len(held)} held-out training shapes (early_stopping: held_out_training_shapes)"
        else:
            validation = f"{len(held)} held-out training shapes (no validation latents given)"
            accelerator.print(f"warning: no latents for the validation shapes; early stopping on {validation}")
    clean_clip, clean_target = train_clip, train_target  # the nearest-neighbour diagnostic below uses real views
    extra_rows = {name: len(extra[1]) for (name, _, _), extra in zip(extra_splits, extras)}
    if extras:
        train_code = torch.cat([train_code, *(e[1] for e in extras)])
        train_clip = torch.cat([train_clip, *(e[2] for e in extras)])
        train_target = torch.cat([train_target, *(e[3] for e in extras)])
        train_index = torch.cat([train_index, *(e[4] for e in extras)])
    fixed_val_rows = len(val_code)
    if val_novel is not None:
        val_code, val_clip, val_target, val_index = (torch.cat([a, b]) for a, b in
                                                     zip((val_code, val_clip, val_target, val_index), val_novel))
    accelerator.print(f"mapper: {len(train_code)} training rows ({train_split.num_views} views per shape"
                      + "".join(f", {rows} {name}" for name, rows in extra_rows.items() if rows) + "), "
                      f"early stopping on {len(val_code)} rows of the {validation}"
                      + (f" ({len(val_code) - fixed_val_rows} of them novel views)" if val_novel is not None else ""))

    best_dir = args.output / "mapper"
    if args.init_mapper is not None:
        model = initial_mapper(args.init_mapper, train_target.shape[1], train_code.shape[1], train_clip.shape[1]).eval()
        with torch.no_grad():
            start_l1 = float(mapping_loss(model, val_code, val_clip, val_target))
        if not (args.resume and best_dir.is_dir()):
            save_component(model, best_dir)
        accelerator.print(f"mapper: L1 stage skipped; refining {args.init_mapper} (validation L1 {start_l1:.4g})")
        state = {"epoch": 0, "stopped_early": False, "best_epoch": 0, "best_val": start_l1, "history": []}
    else:
        state = fit_l1_mapper(args, config, accelerator, best_dir, [train_code, train_clip, train_target],
                              [val_code, val_clip, val_target])
    refined = None
    if refining:
        refined = refine_in_shape_space(args, config, accelerator, best_dir,
                                        [train_code, train_clip, train_target, train_index],
                                        [val_code, val_clip, val_target, val_index], sorted(latents))
    if accelerator.is_main_process:
        mean_l1 = float(F.l1_loss(train_target.mean(0).expand_as(val_target), val_target))
        nearest = (F.normalize(val_clip, dim=-1) @ F.normalize(clean_clip, dim=-1).T).argmax(1)
        nn_l1 = float(F.l1_loss(clean_target[nearest], val_target))
        summary = {"epochs": state["epoch"], "stopped_early": state["stopped_early"], "best_epoch": state["best_epoch"],
                   "val_l1": state["best_val"], "val_l1_mean_latent": mean_l1, "val_l1_clip_nearest_neighbour": nn_l1,
                   "validation": validation, "training_rows": len(train_code),
                   "augmented_rows": extra_rows.get(AUGMENTED_SPLIT, 0),
                   "novel_view_rows": extra_rows.get(novel_views_split("train"), 0),
                   "config": config, "history": state["history"]}
        if refined is not None:
            summary["sdf_refinement"] = refined
        if args.init_mapper is not None:
            summary["init_mapper"] = str(args.init_mapper)
        if val_novel is not None:  # the best model on the 9 views and on novel views of the validation shapes apart
            best = LatentMapper.from_pretrained(best_dir).eval()
            with torch.no_grad():
                errors = (best(val_code, val_clip) - val_target).abs().mean(1)
            summary["val_l1_training_views"] = float(errors[:fixed_val_rows].mean())
            summary["val_l1_novel_views"] = float(errors[fixed_val_rows:].mean())
            accelerator.print(f"mapper: validation L1 on the 9 views {summary['val_l1_training_views']:.4g}, "
                              f"on novel views {summary['val_l1_novel_views']:.4g}")
        write_json(args.output / "mapper_log.json", summary)
        stage = (f"of the initial mapper {state['best_val']:.4g}" if args.init_mapper is not None else
                 f"of the L1 stage {state['best_val']:.4g} at epoch {state['best_epoch']}")
        accelerator.print(f"mapper: best validation L1 {stage} "
                          f"(mean latent {mean_l1:.4g}, CLIP nearest neighbour {nn_l1:.4g}) -> {best_dir}")
    return 0
