"""CycleGAN training between photos and renders: the four networks, LSGAN losses, pools and the step loop.

The translator (photos -> renders) is the component the pipeline wraps; its inverse is kept
for inspection. Each step's batches are drawn from a generator seeded by the step, and the
checkpoint holds all four networks, both optimizers and both image pools, so a resumed run
continues exactly.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from latentmapper.atomic import atomic_path
from latentmapper.models.cyclegan import (ImagePool, PatchDiscriminator, ResnetGenerator,
                                          fp16_megabytes, parameter_count)
from latentmapper.training.checkpoints import (checkpoint_for, load_checkpoint, load_extra_tensors,
                                               save_checkpoint)
from latentmapper.training.devices import make_accelerator
from latentmapper.atomic import write_json
from latentmapper.training.outputs import save_component
from latentmapper.training.schedules import constant_then_linear


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


# ---- data ----------------------------------------------------------------------------------
def load_folder(folder: Path, size: int) -> torch.Tensor:
    """(N, 3, size, size) uint8: every image in ``folder``, RGB, resized (bicubic) to a square."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder of images")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SystemExit(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    images = []
    for path in tqdm(paths, desc=f"reading {folder.name}", unit="image"):
        with Image.open(path) as image:
            image = image.convert("RGB").resize((size, size), Image.BICUBIC)
        images.append(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1))
    return torch.stack(images)


def to_unit(batch: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1]."""
    return batch.float() / 127.5 - 1.0


def sample_batch(images: torch.Tensor, batch_size: int, generator: torch.Generator, flip: bool) -> torch.Tensor:
    """A random batch in [-1, 1], each image mirrored with probability 1/2 when ``flip``."""
    index = torch.randint(len(images), (batch_size,), generator=generator)
    batch = to_unit(images[index])
    if flip:
        mirror = torch.rand(batch_size, generator=generator) < 0.5
        batch[mirror] = batch[mirror].flip(-1)
    return batch


# ---- the model pair and one step -------------------------------------------------------------
class CycleGAN(nn.Module):
    """The four networks under one module, so that a checkpoint holds one state dict."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        generator = dict(config["generator"], image_size=config["image_size"])
        self.photo_to_render = ResnetGenerator(**generator)
        self.render_to_photo = ResnetGenerator(**generator)
        self.render_critic = PatchDiscriminator(**config["discriminator"])
        self.photo_critic = PatchDiscriminator(**config["discriminator"])

    def generator_parameters(self):
        return [*self.photo_to_render.parameters(), *self.render_to_photo.parameters()]

    def discriminator_parameters(self):
        return [*self.render_critic.parameters(), *self.photo_critic.parameters()]


def lsgan_loss(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: (D - 1)^2 for real targets, D^2 for fake ones."""
    return F.mse_loss(scores, torch.ones_like(scores) if real else torch.zeros_like(scores))


def cyclegan_step(
    model: CycleGAN, photos: torch.Tensor, renders: torch.Tensor, opt_g, opt_d,
    pools: tuple[ImagePool, ImagePool], train: dict, backward=None,
) -> dict[str, float]:
    """One update of both generators, then of both discriminators; returns the loss terms."""
    backward = backward or (lambda loss: loss.backward())
    g, f = model.photo_to_render, model.render_to_photo
    lam, lam_idt = train["lambda_cycle"], train["lambda_cycle"] * train["lambda_identity"]

    model.render_critic.requires_grad_(False), model.photo_critic.requires_grad_(False)
    fake_render, fake_photo = g(photos).sample, f(renders).sample
    cycle = F.l1_loss(f(fake_render).sample, photos) + F.l1_loss(g(fake_photo).sample, renders)
    identity = F.l1_loss(g(renders).sample, renders) + F.l1_loss(f(photos).sample, photos) if lam_idt > 0 \
        else photos.new_zeros(())
    adversarial = lsgan_loss(model.render_critic(fake_render), True) + lsgan_loss(model.photo_critic(fake_photo), True)
    loss_g = adversarial + lam * cycle + lam_idt * identity
    opt_g.zero_grad(set_to_none=True)
    backward(loss_g)
    opt_g.step()

    model.render_critic.requires_grad_(True), model.photo_critic.requires_grad_(True)
    pool_render, pool_photo = pools
    old_render, old_photo = pool_render.query(fake_render.detach()), pool_photo.query(fake_photo.detach())
    loss_d = 0.5 * (lsgan_loss(model.render_critic(renders), True) + lsgan_loss(model.render_critic(old_render), False)
                    + lsgan_loss(model.photo_critic(photos), True) + lsgan_loss(model.photo_critic(old_photo), False))
    opt_d.zero_grad(set_to_none=True)
    backward(loss_d)
    opt_d.step()
    return {"adversarial": float(adversarial.detach()), "cycle": float(cycle.detach()),
            "identity": float(identity.detach()), "discriminator": float(loss_d.detach())}


def make_optimizers(model: CycleGAN, train: dict):
    betas = tuple(train.get("betas", (0.5, 0.999)))
    return (torch.optim.Adam(model.generator_parameters(), lr=train["lr"], betas=betas),
            torch.optim.Adam(model.discriminator_parameters(), lr=train["lr"], betas=betas))


# ---- checkpoints (four networks, two optimizers, two pools) ---------------------------------
def save_training_state(folder: Path, model: CycleGAN, optimizers, pools, state: dict) -> None:
    """The shared checkpoint format, with both image pools (tensors and their random states) added."""
    named = dict(zip(("generators", "discriminators"), optimizers))
    pool_tensors = {f"pool_{k}": p.state_tensor() for k, p in enumerate(pools)}
    save_checkpoint(folder, model, named, {**state, "pool_random": [repr(p.random.getstate()) for p in pools]},
                    tensors=pool_tensors)


def load_training_state(folder: Path, model: CycleGAN, optimizers, pools) -> dict:
    import ast

    state = load_checkpoint(folder, model, dict(zip(("generators", "discriminators"), optimizers)))
    device = next(model.parameters()).device
    tensors = load_extra_tensors(folder)
    for k, pool in enumerate(pools):
        pool.load_state_tensor(tensors[f"pool_{k}"].to(device))
    for pool, text in zip(pools, state.pop("pool_random")):
        pool.random.setstate(ast.literal_eval(text))
    return state


# ---- samples -----------------------------------------------------------------------------
@torch.no_grad()
def sample_sheet(generator: ResnetGenerator, photos: torch.Tensor, path: Path) -> None:
    """Rows of (photo, translation) side by side, as a PNG."""
    generator.eval()
    param = next(generator.parameters())
    out = generator(to_unit(photos).to(param.device)).sample.float().cpu()
    pixels = ((out.clamp(-1, 1) + 1) * 127.5).round().byte()
    rows = [torch.cat([a, b], dim=2) for a, b in zip(photos, pixels)]
    sheet = torch.cat(rows, dim=1).permute(1, 2, 0).numpy()
    with atomic_path(path) as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG")


# ---- main ------------------------------------------------------------------------------------
def train_cyclegan(config: dict, photos: torch.Tensor, renders: torch.Tensor, output: Path, *, resume: bool,
                   overwrite: bool, max_minutes: float | None = None, held_out: torch.Tensor | None = None) -> dict:
    """Train on uint8 image tensors; writes the translator, the checkpoint, the log and samples."""
    accelerator = make_accelerator(config)
    train, seed = config["train"], config["seed"]
    torch.manual_seed(seed)
    model = CycleGAN(config)
    opt_g, opt_d = make_optimizers(model, train)
    model, opt_g, opt_d = accelerator.prepare(model, opt_g, opt_d)
    net = accelerator.unwrap_model(model)
    pools = (ImagePool(train["pool_size"], seed), ImagePool(train["pool_size"], seed + 1))
    checkpoint_dir = output / "checkpoint-cyclegan"
    resume_from = checkpoint_for(output, "checkpoint-cyclegan", resume=resume, overwrite=overwrite)
    state = {"step": 0, "seconds": 0.0, "history": []}
    if resume_from is not None:
        state = load_training_state(resume_from, net, (opt_g, opt_d), pools)
        accelerator.print(f"cyclegan: resuming at step {state['step']}")
    total, batch_size, every = train["steps"], train["batch_size"], config.get("checkpoint_every_steps", 200)
    log_every = train.get("log_every_steps", 50)
    started = time.perf_counter() - state["seconds"]
    deadline = None if max_minutes is None else time.perf_counter() + 60 * max_minutes
    window: dict[str, list[float]] = {}

    def save() -> None:
        state["seconds"] = time.perf_counter() - started
        if accelerator.is_main_process:
            save_training_state(checkpoint_dir, net, (opt_g, opt_d), pools, state)
        accelerator.wait_for_everyone()

    bar = tqdm(total=total, initial=state["step"], desc="cyclegan", unit="step", disable=not accelerator.is_local_main_process)
    stopped_early = False
    while state["step"] < total:
        step = state["step"]
        lr = constant_then_linear(step, total, train["lr"], train.get("decay_start", 0.5))
        for optimizer in (opt_g, opt_d):
            for group in optimizer.param_groups:
                group["lr"] = lr
        generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
        x = sample_batch(photos, batch_size, generator, train.get("flip", True)).to(accelerator.device)
        y = sample_batch(renders, batch_size, generator, train.get("flip", True)).to(accelerator.device)
        model.train()
        with accelerator.autocast():
            losses = cyclegan_step(net, x, y, opt_g, opt_d, pools, train, backward=accelerator.backward)
        for key, value in losses.items():
            window.setdefault(key, []).append(value)
        state["step"] = step + 1
        bar.update(1)
        bar.set_postfix(cycle=f"{losses['cycle']:.3f}", adv=f"{losses['adversarial']:.3f}", d=f"{losses['discriminator']:.3f}")
        if state["step"] % log_every == 0 or state["step"] == total:
            state["history"].append({"step": state["step"], "lr": lr, "seconds": round(time.perf_counter() - started, 1),
                                     **{k: float(np.mean(v)) for k, v in window.items()}})
            window = {}
        if state["step"] % every == 0 and state["step"] < total:
            save()
        if deadline is not None and time.perf_counter() > deadline and state["step"] < total:
            accelerator.print(f"cyclegan: --max-minutes reached at step {state['step']} of {total}")
            stopped_early = True
            break
    bar.close()
    save()
    if accelerator.is_main_process:
        save_component(net.photo_to_render, output / "translator")
        save_component(net.render_to_photo, output / "render_to_photo")
        if held_out is not None and len(held_out):
            sample_sheet(net.photo_to_render, held_out, output / "samples.png")
        summary = {"steps": state["step"], "of_steps": total, "stopped_early": stopped_early,
                   "seconds": round(time.perf_counter() - started, 1),
                   "translator_parameters": parameter_count(net.photo_to_render),
                   "translator_fp16_mb": round(fp16_megabytes(net.photo_to_render), 3),
                   "photos": len(photos), "renders": len(renders), "config": config, "history": state["history"]}
        write_json(output / "cyclegan_log.json", summary)
        accelerator.print(f"translator ({summary['translator_parameters']} parameters, "
                          f"{summary['translator_fp16_mb']} MB in fp16) -> {output / 'translator'}")
        return summary
    return {}


__all__ = ["CycleGAN", "cyclegan_step", "load_folder", "make_optimizers", "train_cyclegan"]
