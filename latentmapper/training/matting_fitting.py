"""The matting U-Net's training: photo-like renders with their true silhouettes, BCE + Dice, IoU checks.

Batches are synthesised on the fly from the training renders (``latentmapper.photo.photo_like``)
from a generator seeded by the step, so a resumed run repeats an uninterrupted one; the
validation set is fixed by the seed, and the classical matting's IoU on it is the baseline.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from latentmapper.photo.framing import render_mask
from latentmapper.photo.learned_matting import matte_logits, matting_unet, to_model_input
from latentmapper.photo.matting import ClassicalMatting
from latentmapper.photo.photo_like import PhotoLikeConfig, synthesize_photo_like
from latentmapper.training.checkpoints import checkpoint_for, load_checkpoint, save_checkpoint
from latentmapper.training.devices import make_accelerator
from latentmapper.atomic import write_json
from latentmapper.training.outputs import save_component
from latentmapper.training.schedules import warmup_cosine


VALIDATION_VIEWS = (1, 4, 7)


# ---- data ------------------------------------------------------------------------------------
def load_renders(datasets: list[Path], split: str, limit: int | None = None) -> np.ndarray:
    """(N, V, S, S, 3) uint8: the renders of ``split`` (the first ``limit`` shapes of each dataset)."""
    from datasets import load_from_disk

    shapes = []
    for path in datasets:
        if not Path(path).is_dir():
            raise SystemExit(f"{path} is not a saved dataset (build one with `python -m latentmapper.data build`)")
        rows = load_from_disk(str(path))
        if split not in rows:
            raise SystemExit(f"{path} has no {split!r} split (it has {sorted(rows)})")
        rows = rows[split].select_columns(["images"])
        rows = rows.select(range(min(limit, len(rows)))) if limit else rows
        for row in tqdm(rows, desc=f"reading {Path(path).name} {split}", unit="shape"):
            shapes.append(np.stack([np.asarray(im.convert("RGB")) for im in row["images"]]))
    if not shapes:
        raise SystemExit(f"no {split} shapes in {', '.join(map(str, datasets))}")
    sizes = {s.shape for s in shapes}
    if len(sizes) > 1:
        raise SystemExit(f"the datasets' renders differ in size or view count: {sorted(sizes)}")
    return np.stack(shapes)


def photo_like_config(config: dict) -> PhotoLikeConfig:
    return PhotoLikeConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.get("photo_like", {}).items()})


def training_batch(renders: np.ndarray, batch_size: int, rng: np.random.Generator, photo: PhotoLikeConfig,
                   clean_probability: float) -> tuple[np.ndarray, np.ndarray]:
    """(B, S, S, 3) uint8 photo-like images (or clean renders) and (B, S, S) float32 mattes."""
    images, mattes = [], []
    for _ in range(batch_size):
        render = renders[rng.integers(len(renders)), rng.integers(renders.shape[1])]
        if rng.random() < clean_probability:
            image, matte = render, render_mask(render)
        else:
            sample = synthesize_photo_like(Image.fromarray(render), rng, photo)
            image, matte = np.asarray(sample.image), sample.mask
        if rng.random() < 0.5:
            image, matte = image[:, ::-1], matte[:, ::-1]
        images.append(image)
        mattes.append(matte)
    return np.stack(images), np.stack(mattes).astype(np.float32)


def validation_set(renders: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed photo-like validation images (default degradations, renders' framing) and true mattes."""
    images, mattes = [], []
    for shape in range(len(renders)):
        for view in VALIDATION_VIEWS:
            rng = np.random.default_rng([seed, 7919, shape, view])
            sample = synthesize_photo_like(Image.fromarray(renders[shape, view]), rng)
            images.append(np.asarray(sample.image))
            mattes.append(sample.mask)
    return np.stack(images), np.stack(mattes)


def mean_iou(predicted: np.ndarray, true: np.ndarray) -> float:
    """Mean over images of |P & T| / |P | T| for bool masks (B, H, W)."""
    inter = (predicted & true).sum(axis=(1, 2))
    union = (predicted | true).sum(axis=(1, 2))
    return float(np.mean(inter / np.maximum(union, 1)))


# ---- loss and schedule -----------------------------------------------------------------------
def matting_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy + ``dice_weight`` x (1 - soft Dice), per image, averaged."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits).flatten(1)
    flat = target.flatten(1)
    dice = (2 * (prob * flat).sum(1) + 1) / (prob.sum(1) + flat.sum(1) + 1)
    return bce + dice_weight * (1 - dice).mean()


@torch.no_grad()
def predict(unet, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(B, S, S) bool mattes (probability > 0.5) of uint8 images."""
    unet.eval()
    param = next(unet.parameters())
    out = [matte_logits(unet, to_model_input(images[i:i + batch_size]).to(param.device, param.dtype)).float().cpu() > 0
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy()


def classical_iou(images: np.ndarray, mattes: np.ndarray) -> float:
    matting = ClassicalMatting()
    predicted = np.stack([matting(Image.fromarray(image)) > 0.5 for image in tqdm(images, desc="classical matting")])
    return mean_iou(predicted, mattes)


# ---- main ------------------------------------------------------------------------------------
def train_matting(config: dict, renders: np.ndarray, val_images: np.ndarray, val_mattes: np.ndarray, output: Path, *,
                  resume: bool, overwrite: bool, max_minutes: float | None = None, fp16: bool = False,
                  baseline_iou: float | None = None) -> dict:
    accelerator = make_accelerator(config)
    train, seed = config["train"], config["seed"]
    torch.manual_seed(seed)
    unet = matting_unet(**config["model"], sample_size=renders.shape[2])
    optimizer = torch.optim.AdamW(unet.parameters(), lr=train["lr"], weight_decay=train.get("weight_decay", 1e-4))
    model, optimizer = accelerator.prepare(unet, optimizer)
    net = accelerator.unwrap_model(model)
    resume_from = checkpoint_for(output, "checkpoint-matting", resume=resume, overwrite=overwrite)
    state = {"step": 0, "seconds": 0.0, "history": [], "best_iou": -1.0, "best_step": None}
    if resume_from is not None:
        state = load_checkpoint(resume_from, net, optimizer)
        accelerator.print(f"matting: resuming at step {state['step']}")
    photo = photo_like_config(config)
    total, batch_size = train["steps"], train["batch_size"]
    every, eval_every = config.get("checkpoint_every_steps", 200), train["eval_every_steps"]
    started = time.perf_counter() - state["seconds"]
    deadline = None if max_minutes is None else time.perf_counter() + 60 * max_minutes
    losses: list[float] = []

    def evaluate() -> None:
        iou = mean_iou(predict(net, val_images), val_mattes)
        state["history"].append({"step": state["step"], "loss": float(np.mean(losses)) if losses else None,
                                 "val_iou": round(iou, 4), "seconds": round(time.perf_counter() - started, 1)})
        losses.clear()
        accelerator.print(f"matting: step {state['step']} validation IoU {iou:.4f}")
        if iou > state["best_iou"] and accelerator.is_main_process:
            state["best_iou"], state["best_step"] = iou, state["step"]
            best = matting_unet(**config["model"], sample_size=renders.shape[2])
            best.load_state_dict(net.state_dict())
            save_component(best.half() if fp16 else best, output / "matting")

    def save() -> None:
        state["seconds"] = time.perf_counter() - started
        if accelerator.is_main_process:
            save_checkpoint(output / "checkpoint-matting", net, optimizer, state)
        accelerator.wait_for_everyone()

    bar = tqdm(total=total, initial=state["step"], desc="matting", unit="step", disable=not accelerator.is_local_main_process)
    stopped_early = False
    while state["step"] < total:
        step = state["step"]
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(step, total, train["lr"], train.get("warmup_steps", 100), final_fraction=0.0)
        rng = np.random.default_rng([seed, step])
        images, mattes = training_batch(renders, batch_size, rng, photo, train.get("clean_probability", 0.1))
        model.train()
        with accelerator.autocast():
            loss = matting_loss(matte_logits(model, to_model_input(images).to(accelerator.device)),
                                torch.from_numpy(mattes).to(accelerator.device), train.get("dice_weight", 1.0))
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        losses.append(float(loss.detach()))
        state["step"] = step + 1
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", best_iou=f"{max(state['best_iou'], 0):.3f}")
        if state["step"] % eval_every == 0 or state["step"] == total:
            evaluate()
        if state["step"] % every == 0 and state["step"] < total:
            save()
        if deadline is not None and time.perf_counter() > deadline and state["step"] < total:
            accelerator.print(f"matting: --max-minutes reached at step {state['step']} of {total}")
            if not state["history"] or state["history"][-1]["step"] != state["step"]:
                evaluate()
            stopped_early = True
            break
    bar.close()
    save()
    parameters = sum(p.numel() for p in net.parameters())
    summary = {"steps": state["step"], "of_steps": total, "stopped_early": stopped_early,
               "seconds": round(time.perf_counter() - started, 1), "parameters": parameters,
               "fp16_megabytes": round(2 * parameters / 1e6, 3), "best_val_iou": round(state["best_iou"], 4),
               "best_step": state["best_step"], "classical_val_iou": baseline_iou,
               "validation_images": len(val_images), "training_shapes": len(renders), "config": config,
               "history": state["history"]}
    if accelerator.is_main_process:
        write_json(output / "matting_log.json", summary)
        accelerator.print(f"matting U-Net ({parameters:,} parameters): best validation IoU {state['best_iou']:.4f} "
                          f"at step {state['best_step']}" + (f", classical matting {baseline_iou:.4f}"
                                                             if baseline_iou is not None else "")
                          + f" -> {output / 'matting'}")
    return summary


__all__ = ["classical_iou", "load_renders", "matting_loss", "train_matting", "training_batch", "validation_set"]
