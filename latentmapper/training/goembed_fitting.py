"""The GOEmbed encoder's training: posed views of a shape -> its DIT code, with early stopping.

Each step takes a batch of training shapes and, for the whole batch, a number of views k
drawn from 1..``max_views`` (uniformly, or by ``view_count_weights``); every shape gets its own random k of its renders with their
cameras. The loss is the L1 distance to the shape's DIT code, plus, with ``rerender_weight``
> 0, the squared error of re-rendering the decoded representation at a view the encoder did
not see. Batches and views are drawn from the step number, so a resumed run repeats an
uninterrupted one; the best encoder by the validation L1 (from 1 and from 3 views) is kept.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from latentmapper.models.goembed import GOEmbedEncoder
from latentmapper.training.checkpoints import checkpoint_for, load_checkpoint, save_checkpoint
from latentmapper.training.outputs import save_component
from latentmapper.training.schedules import warmup_cosine
from latentmapper.training.view_sets import ViewSet

VALIDATION_VIEWS = {"1_view": (0,), "3_views": (0, 3, 6)}  # view indices: yaw 0; yaw 0, 90, 180


def draw_views(count: int, num_views: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """(count, k) distinct view indices per shape, in random order."""
    return torch.rand(count, num_views, generator=generator).argsort(dim=1)[:, :k]


def draw_view_count(max_views: int, weights, generator: torch.Generator) -> int:
    """A batch's number of views k in 1..max_views: uniform, or by ``weights`` (one per k, any scale)."""
    if weights is None:
        return int(torch.randint(1, max_views + 1, (1,), generator=generator))
    if len(weights) != max_views or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"view_count_weights needs {max_views} non-negative weights, got {weights}")
    return int(torch.multinomial(torch.tensor(weights, dtype=torch.float64), 1, generator=generator)) + 1


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


def fit_goembed(config: dict, train: ViewSet, val: ViewSet, train_targets: torch.Tensor, val_targets: torch.Tensor,
                output: Path, accelerator: Accelerator, *, resume: bool, overwrite: bool) -> tuple[dict, int]:
    """Train into ``output`` (best encoder in ``OUTPUT/goembed/``, checkpoint in ``OUTPUT/checkpoint-goembed/``).

    Returns the run's state (steps, best step and validation L1, history) and the encoder's parameter count.
    """
    train_cfg = config["training"]
    device = accelerator.device
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
    resume_from = checkpoint_for(output, "checkpoint-goembed", resume=resume, overwrite=overwrite)
    if resume_from is not None:
        state = load_checkpoint(resume_from, unwrapped, optimizer)
        accelerator.print(f"goembed: resuming after step {state['step']}")
    steps, batch_size = int(train_cfg["steps"]), int(train_cfg["batch_size"])
    max_views, budget = int(train_cfg["max_views"]), 60.0 * float(train_cfg.get("max_minutes", 1e9))
    view_weights = train_cfg.get("view_count_weights")
    started = time.perf_counter() - state["seconds"]
    params_list = [p for p in model.parameters() if p.requires_grad]
    best_dir = output / "goembed"

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
            save_checkpoint(output / "checkpoint-goembed", unwrapped, optimizer, state)
        bar.set_postfix(val1=f"{val_l1['1_view']:.4f}", val3=f"{val_l1['3_views']:.4f}",
                        best=f"{state['best_val']:.4f}@{state['best_step']}")

    bar = tqdm(total=steps, initial=state["step"], desc="goembed", unit="step",
               disable=not accelerator.is_local_main_process)
    model.train()
    while state["step"] < steps and time.perf_counter() - started < budget:
        generator = torch.Generator().manual_seed(config["seed"] * 1_000_003 + state["step"])
        rows = torch.randperm(len(train.shape_ids), generator=generator)[:batch_size]
        k = draw_view_count(max_views, view_weights, generator)
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

    return state, params


__all__ = ["VALIDATION_VIEWS", "draw_view_count", "fit_goembed", "training_loss", "validation_l1"]
