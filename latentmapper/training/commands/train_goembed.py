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
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from latentmapper.atomic import atomic_path
from latentmapper.goembed_pipeline import GOEmbedPipeline
from latentmapper.models.goembed import GOEmbedEncoder
from latentmapper.training.checkpoints import checkpoint_for, load_checkpoint, save_checkpoint
from latentmapper.training.devices import make_accelerator
from latentmapper.training.latent_codes import load_latents
from latentmapper.training.outputs import save_component, write_json
from latentmapper.training.presets import add_common_arguments, config_from_args
from latentmapper.training.schedules import warmup_cosine
from latentmapper.training.view_sets import ViewSet, load_view_set

VALIDATION_VIEWS = {"1_view": (0,), "3_views": (0, 3, 6)}  # view indices: yaw 0; yaw 0, 90, 180


def draw_views(count: int, num_views: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """(count, k) distinct view indices per shape, in random order."""
    return torch.rand(count, num_views, generator=generator).argsort(dim=1)[:, :k]


def gather(data: ViewSet, rows: torch.Tensor, index: torch.Tensor):
    """Views, poses and fovs of ``rows`` at per-row view indices ``index`` (B, k)."""
    take = lambda t: t[rows[:, None], index]  # noqa: E731
    return take(data.views), take(data.poses), take(data.fovs)


@torch.no_grad()
def validation_l1(model: GOEmbedEncoder, data: ViewSet, targets: torch.Tensor, device, batch: int = 32) -> dict:
    """Mean L1 to the codes from each fixed view set of ``VALIDATION_VIEWS``."""
    model.eval()
    out = {}
    for name, views in VALIDATION_VIEWS.items():
        index = torch.tensor(views)
        total = 0.0
        for start in range(0, len(data.shape_ids), batch):
            rows = torch.arange(start, min(start + batch, len(data.shape_ids)))
            v, p, f = (t.to(device) for t in gather(data, rows, index.expand(len(rows), -1)))
            total += float((model(v, p, f).latent - targets[rows].to(device)).abs().mean(1).sum())
        out[name] = total / len(data.shape_ids)
    model.train()
    return out


def training_loss(model, data: ViewSet, targets: torch.Tensor, rows: torch.Tensor, k: int, config: dict,
                  generator: torch.Generator, device) -> tuple[torch.Tensor, dict]:
    order = draw_views(len(rows), data.views.shape[1], min(k + 1, data.views.shape[1]), generator)
    v, p, f = (t.to(device) for t in gather(data, rows, order[:, :k]))
    out = model(v, p, f)
    latent_l1 = (out.latent - targets[rows].to(device)).abs().mean()
    parts = {"latent_l1": float(latent_l1.detach())}
    loss = latent_l1
    weight = float(config.get("rerender_weight", 0.0))
    if weight > 0 and out.representation is not None and order.shape[1] > k:
        hv, hp, hf = (t.to(device) for t in gather(data, rows, order[:, k:]))
        rendered = model.render(out.representation, hp, hf, hv.shape[-1])
        rerender = (rendered - hv).square().mean()
        parts["rerender_mse"] = float(rerender.detach())
        loss = loss + weight * rerender
    return loss, parts


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
    device = accelerator.device

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

    torch.manual_seed(config["seed"])
    model = GOEmbedEncoder(**{**config["model"], "latent_size": int(train_targets.shape[1])})
    model.set_normalization(train_targets)
    params = sum(p.numel() for p in model.parameters())
    accelerator.print(f"goembed: {params:,} parameters ({2 * params / 1e6:.2f} MB in float16)")
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_cfg["lr"],
                                  weight_decay=train_cfg.get("weight_decay", 0.0))
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)

    state = {"step": 0, "best_val": None, "best_step": 0, "seconds": 0.0, "history": []}
    resume_from = checkpoint_for(args.output, "checkpoint-goembed", resume=args.resume, overwrite=args.overwrite)
    if resume_from is not None:
        state = load_checkpoint(resume_from, unwrapped, optimizer)
        accelerator.print(f"goembed: resuming after step {state['step']}")
    steps, batch_size = int(train_cfg["steps"]), int(train_cfg["batch_size"])
    max_views, budget = int(train_cfg["max_views"]), 60.0 * float(train_cfg.get("max_minutes", 1e9))
    started = time.perf_counter() - state["seconds"]
    params_list = [p for p in model.parameters() if p.requires_grad]
    best_dir = args.output / "goembed"

    def evaluate_and_save() -> None:
        val_l1 = validation_l1(unwrapped, val, val_targets, device)
        score = sum(val_l1.values()) / len(val_l1)
        if state["best_val"] is None or score < state["best_val"]:
            state.update(best_val=score, best_step=state["step"])
            if accelerator.is_main_process:
                save_component(unwrapped, best_dir)
        state["seconds"] = time.perf_counter() - started
        recent = [h["loss"] for h in state.get("recent", [])] or [float("nan")]
        state["history"].append({"step": state["step"], "train_loss": float(np.mean(recent)),
                                 **{f"val_l1_{k}": v for k, v in val_l1.items()},
                                 "seconds": round(state["seconds"], 1)})
        state["recent"] = []
        if accelerator.is_main_process:
            save_checkpoint(args.output / "checkpoint-goembed", unwrapped, optimizer, state)
        bar.set_postfix(val1=f"{val_l1['1_view']:.4f}", val3=f"{val_l1['3_views']:.4f}",
                        best=f"{state['best_val']:.4f}@{state['best_step']}")

    bar = tqdm(total=steps, initial=state["step"], desc="goembed", unit="step",
               disable=not accelerator.is_local_main_process)
    model.train()
    while state["step"] < steps and time.perf_counter() - started < budget:
        generator = torch.Generator().manual_seed(config["seed"] * 1_000_003 + state["step"])
        rows = torch.randperm(len(train.shape_ids), generator=generator)[:batch_size]
        k = int(torch.randint(1, max_views + 1, (1,), generator=generator))
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(state["step"], steps, train_cfg["lr"], train_cfg["warmup_steps"])
        loss, parts = training_loss(model, train, train_targets, rows, k, train_cfg, generator, device)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss, inputs=params_list)  # not the origin: its gradient is never used
        if train_cfg.get("grad_clip"):
            accelerator.clip_grad_norm_(params_list, train_cfg["grad_clip"])
        optimizer.step()
        state["step"] += 1
        state.setdefault("recent", []).append({"loss": float(loss.detach()), **parts})
        bar.update(1)
        bar.set_description(f"goembed k={k} loss={float(loss.detach()):.4f}")
        if state["step"] % int(train_cfg["eval_every"]) == 0 or state["step"] == steps:
            evaluate_and_save()
    if state["step"] % int(train_cfg["eval_every"]) and state["step"] < steps:
        evaluate_and_save()  # stopped by the time budget between evaluations
    bar.close()

    if accelerator.is_main_process:
        best = GOEmbedEncoder.from_pretrained(best_dir)
        from latentmapper.training.split_latents import load_decoder

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
