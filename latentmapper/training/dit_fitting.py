"""The DIT auto-decoder's training loop: one learnable code per shape, DIT's objective and schedules.

The objective and its schedule are DIT's (``latentmapper.models.dit_losses``). Each epoch
draws ``samples_per_shape`` fresh samples per shape (:mod:`latentmapper.training.sdf_samples`);
Adam runs with separate learning rates for warper, template and codes, each halved every
``lr_decay_interval`` epochs. On a CPU the shapes of each batch are split over
single-threaded worker threads (``cpu_workers``, default one per core), which keeps a small
shared CPU busy where PyTorch's own threads stall. Checkpoints
(:mod:`latentmapper.training.checkpoints`) and per-epoch seeds make a resumed run repeat an
uninterrupted one exactly; ``max_minutes`` stops early, writing all outputs, when time runs out.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from latentmapper.atomic import atomic_path
from latentmapper.geometry.batching import auto_workers, cpu_workers
from latentmapper.models.code_init import pca_codes
from latentmapper.models.dit import DITDecoder
from latentmapper.models.dit_losses import DITLossConfig, dit_loss
from latentmapper.training.checkpoints import load_checkpoint, read_state, save_checkpoint
from latentmapper.training.latent_codes import save_latents
from latentmapper.training.sdf_samples import SampleDrawer, load_training_shapes

TRAINING_DEFAULTS = {
    "epochs": 2001,
    "shapes_per_batch": 24,
    "samples_per_shape": 5000,
    "balanced_sampling": True,
    "far_fraction": 0.0,
    "lr_warper": 5e-4,
    "lr_template": 1e-3,
    "lr_codes": 1e-3,
    "lr_decay_interval": 500,
    "lr_decay_factor": 0.5,
    "code_init": "random",
    "code_init_std": 1.0,
    "code_bound": 1.0,
    "grad_clip": None,
    "checkpoint_every": 10,
    "max_minutes": None,
    "seed": 0,
    "mixed_precision": "no",
    "cpu_workers": None,
    "loss": {},
}


def dit_settings(config: dict) -> dict:
    """``config`` with the training defaults filled in; unknown training or loss settings are an error."""
    config.setdefault("model", {})
    config["training"] = {**TRAINING_DEFAULTS, **config.get("training", {})}
    unknown = set(config["training"]) - set(TRAINING_DEFAULTS)
    if unknown:
        raise SystemExit(f"unknown training settings: {sorted(unknown)}")
    loss_keys = {f.name for f in fields(DITLossConfig)} - {"clamp_distance"}
    if set(config["training"]["loss"]) - loss_keys:
        raise SystemExit(f"unknown loss settings: {sorted(set(config['training']['loss']) - loss_keys)}")
    return config


def loss_config(config: dict) -> DITLossConfig:
    """The objective's settings of a config (tuples where the dataclass wants them)."""
    loss = dict(config["training"]["loss"])
    for key in ("curriculum_eps", "curriculum_lambda"):
        if key in loss:
            loss[key] = tuple(loss[key])
    return DITLossConfig(clamp_distance=float(config["model"].get("clamp_distance", 0.1)), **loss)


def _rewrite_log(log_path: Path, last_epoch: int) -> None:
    """Drop log lines past the checkpoint being resumed (they will be trained again)."""
    if not log_path.exists():
        return
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    keep = [line for line in lines if json.loads(line).get("epoch", 0) <= last_epoch]
    with atomic_path(log_path) as tmp:
        tmp.write_text("".join(line + "\n" for line in keep))


def write_outputs(output: Path, decoder, codes: torch.Tensor, shape_ids: list[str]) -> None:
    """The trained decoder and the per-shape latents, each written atomically."""
    with atomic_path(output / "decoder", is_dir=True) as tmp:
        decoder.save_pretrained(tmp, safe_serialization=True)
    save_latents(output / "latents.safetensors", codes, shape_ids)


def threaded_step(decoder, codes, index, data, epoch, cfg, pool, workers, bf16: bool = False) -> dict[str, torch.Tensor]:
    """Loss and gradients of one batch, its shapes split over single-threaded CPU workers.

    Every term of the DIT objective is a mean over shapes, so the batch's gradient is the
    shape-weighted sum of the groups' gradients; summing them in a fixed order keeps
    training deterministic (and ``--resume`` exact). See ``latentmapper.geometry.batching``
    for why this beats PyTorch's own threads on a small shared CPU.
    """
    params = [p for p in (*decoder.parameters(), *codes.parameters()) if p.requires_grad]
    groups = [(i, d) for i, d in zip(index.tensor_split(workers), data.tensor_split(workers)) if len(i)]

    def work(group):
        torch.set_num_threads(1)
        idx, part = group
        weight = len(idx) / len(index)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            terms = dit_loss(decoder, codes(idx), part[..., :3], part[..., 3], epoch, cfg)
        grads = torch.autograd.grad(terms["loss"] * weight, params, allow_unused=True)
        return {k: v.detach() * weight for k, v in terms.items()}, grads

    results = list(pool.map(work, groups))
    for n, p in enumerate(params):
        parts = [g[n] for _, g in results if g[n] is not None]
        p.grad = torch.stack(parts).sum(0) if parts else torch.zeros_like(p)
    return {k: sum(r[0][k] for r in results) for k in results[0][0]}


def sdf_parameters(decoder: DITDecoder) -> list[torch.nn.Parameter]:
    """The template's parameters and, when the decoder has one, the latent correction's: both
    are SDF networks and share the template's learning rate."""
    params = list(decoder.template.parameters())
    if decoder.correction is not None:
        params += list(decoder.correction.parameters())
    return params


def initial_codes(codes: torch.nn.Embedding, samples: list[torch.Tensor], train: dict, clamp: float) -> None:
    """DeepSDF's random N(0, std^2 / L) codes, or (``code_init="pca"``) PCA scores of the shapes'
    coarse SDF grids with mean norm ``code_init_std`` times half the code bound."""
    latent_size = codes.embedding_dim
    with torch.no_grad():
        if train["code_init"] == "random":
            torch.nn.init.normal_(codes.weight, 0.0, train["code_init_std"] / math.sqrt(latent_size))
        elif train["code_init"] == "pca":
            bound = train["code_bound"] or 1.0
            codes.weight.copy_(pca_codes(samples, latent_size, train["code_init_std"] * 0.5 * bound, clamp=clamp,
                                         seed=train["seed"]))
        else:
            raise SystemExit(f"training.code_init must be 'random' or 'pca', got {train['code_init']!r}")


def learning_rates(train: dict, epoch: int) -> list[float]:
    """Step decay per parameter group (warper, template, codes), as DIT's schedules."""
    factor = train["lr_decay_factor"] ** (epoch // train["lr_decay_interval"]) if train["lr_decay_interval"] else 1.0
    return [train["lr_warper"] * factor, train["lr_template"] * factor, train["lr_codes"] * factor]


@dataclass
class Run:
    """What one training run holds between epochs."""

    accelerator: Accelerator
    decoder: torch.nn.Module
    codes: torch.nn.Embedding
    optimizer: torch.optim.Optimizer
    drawer: SampleDrawer
    losses: DITLossConfig
    train: dict

    def epoch(self, epoch: int, pool: ThreadPoolExecutor, workers: int, bar) -> dict:
        """One pass over the shapes (this process's share); returns the epoch's log record."""
        acc, t = self.accelerator, self.train
        began = time.monotonic()
        for group, lr in zip(self.optimizer.param_groups, learning_rates(t, epoch)):
            group["lr"] = lr
        gen = torch.Generator().manual_seed(t["seed"] * 1_000_003 + epoch)  # resumable sampling
        order = torch.randperm(len(self.drawer.samples), generator=gen)
        mine = list(order.split(t["shapes_per_batch"]))[acc.process_index :: acc.num_processes]
        sums: dict[str, float] = {}
        points = 0
        self.decoder.train()
        for index in mine:
            data = torch.stack([self.drawer.draw(int(i), gen) for i in index]).to(acc.device)
            self.optimizer.zero_grad(set_to_none=True)
            if workers > 1:
                terms = threaded_step(self.decoder, self.codes, index, data, epoch, self.losses, pool, workers,
                                      bf16=t["mixed_precision"] == "bf16")
            else:
                with acc.autocast():
                    codes = self.codes(index.to(acc.device))
                    terms = dit_loss(self.decoder, codes, data[..., :3], data[..., 3], epoch, self.losses)
                acc.backward(terms["loss"])
            if t["grad_clip"]:
                acc.clip_grad_norm_(acc.unwrap_model(self.decoder).parameters(), t["grad_clip"])
            self.optimizer.step()
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
            points += data.shape[0] * data.shape[1]
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{float(terms['loss'].detach()):.5f}")
        seconds = time.monotonic() - began
        return {
            "epoch": epoch,
            **{k: v / max(1, len(mine)) for k, v in sums.items()},
            "lr": learning_rates(t, epoch),
            "code_norm": float(acc.unwrap_model(self.codes).weight.detach().norm(dim=1).mean()),
            "seconds": round(seconds, 3),
            "points_per_second": round(points / max(seconds, 1e-9), 1),
        }


def fit_dit(config: dict, dataset: str | Path, output: str | Path, *, resume: bool = False, cpu: bool = False,
            max_shapes: int | None = None) -> Path:
    """Train on the ``train`` split of ``dataset`` into ``output``; see the module docstring for what it writes.

    ``config`` is a preset (``model`` and ``training`` sections) after :func:`dit_settings`;
    with ``resume`` the run continues from ``OUTPUT/checkpoint`` when there is one.
    """
    t = config["training"]
    output = Path(output)
    ckpt_dir, log_path = output / "checkpoint", output / "train_log.jsonl"

    accelerator = Accelerator(mixed_precision=t["mixed_precision"], cpu=cpu)
    torch.manual_seed(t["seed"])
    shape_ids, samples = load_training_shapes(str(dataset), max_shapes)

    resume_state = None
    if resume and (ckpt_dir / "state.json").exists():
        resume_state = read_state(ckpt_dir)
        if resume_state["shape_ids"] != shape_ids:
            raise SystemExit("the checkpoint was trained on other shapes than this dataset's train split")
        config["model"] = resume_state["config"]["model"]

    decoder = DITDecoder(**config["model"])
    config["model"] = {k: v for k, v in decoder.config.items() if not k.startswith("_")}
    latent_size = decoder.latent_size
    codes = torch.nn.Embedding(len(shape_ids), latent_size, max_norm=t["code_bound"])
    if resume_state is None:
        initial_codes(codes, samples, t, decoder.config.clamp_distance)
    lrs = learning_rates(t, 1)
    optimizer = torch.optim.Adam(
        [
            {"params": decoder.warper.parameters(), "lr": lrs[0]},
            {"params": sdf_parameters(decoder), "lr": lrs[1]},
            {"params": codes.parameters(), "lr": lrs[2]},
        ]
    )
    if resume_state is not None:
        load_checkpoint(ckpt_dir, torch.nn.ModuleDict({"decoder": decoder, "codes": codes}), optimizer)
    decoder, codes, optimizer = accelerator.prepare(decoder, codes, optimizer)
    device, unwrap = accelerator.device, accelerator.unwrap_model
    drawer = SampleDrawer(samples, t["samples_per_shape"], t["balanced_sampling"], t["far_fraction"],
                          config["model"]["clamp_distance"])
    run = Run(accelerator, decoder, codes, optimizer, drawer, loss_config(config), t)

    def save(epoch: int) -> None:
        model = torch.nn.ModuleDict({"decoder": unwrap(decoder), "codes": unwrap(codes)})
        save_checkpoint(ckpt_dir, model, optimizer, {"epoch": epoch, "shape_ids": shape_ids, "config": config})

    start_epoch, total_epochs = (resume_state["epoch"] + 1 if resume_state else 1), t["epochs"]
    if accelerator.is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        if resume_state:
            _rewrite_log(log_path, resume_state["epoch"])
        elif log_path.exists():
            log_path.unlink()
        (output / "train_config.json").write_text(json.dumps(config, indent=2))
        n_params = sum(p.numel() for p in unwrap(decoder).parameters())
        accelerator.print(
            f"DIT: {len(shape_ids)} shapes, latent {latent_size}, {n_params:,} decoder parameters, "
            f"epochs {start_epoch}..{total_epochs}"
        )
    batches = math.ceil(len(shape_ids) / t["shapes_per_batch"])
    mine = len(range(accelerator.process_index, batches, accelerator.num_processes))
    bar = tqdm(
        total=max(0, total_epochs - start_epoch + 1) * mine,
        desc="DIT",
        unit="step",
        disable=not accelerator.is_local_main_process,
    )

    # On a CPU, the shapes of a batch are split over single-threaded workers (see threaded_step).
    threaded = device.type == "cpu" and accelerator.num_processes == 1 and t["mixed_precision"] in ("no", "bf16")
    began, epoch, stopped_early = time.monotonic(), start_epoch - 1, False
    n_workers = t["cpu_workers"] or auto_workers()
    with cpu_workers(device, n_workers) if threaded else contextlib.nullcontext(1) as workers:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for epoch in range(start_epoch, total_epochs + 1):
                record = run.epoch(epoch, pool, workers, bar)
                out_of_time = t["max_minutes"] is not None and (time.monotonic() - began) / 60.0 >= t["max_minutes"]
                stopped_early = out_of_time and epoch < total_epochs
                if accelerator.is_main_process:
                    with open(log_path, "a") as fh:
                        fh.write(json.dumps(record) + "\n")
                    if epoch == total_epochs or stopped_early or epoch % t["checkpoint_every"] == 0:
                        save(epoch)
                accelerator.wait_for_everyone()
                if stopped_early:
                    break
    bar.close()

    if accelerator.is_main_process:
        write_outputs(output, unwrap(decoder), unwrap(codes).weight, shape_ids)
        note = f" (stopped by max_minutes={t['max_minutes']} after epoch {epoch})" if stopped_early else ""
        accelerator.print(f"wrote {output / 'decoder'} and {output / 'latents.safetensors'}{note}")
    return output


__all__ = ["TRAINING_DEFAULTS", "dit_settings", "fit_dit", "learning_rates", "threaded_step"]
