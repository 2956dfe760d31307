"""Train the Deep Implicit Templates decoder as an auto-decoder (one learnable code per shape).

    python train/train_dit.py --dataset data/cars --preset cpu --output runs/dit_cpu [--resume]

Reads the dataset's ``train`` split (``shape_id``, ``sdf_samples``), and writes

    OUTPUT/decoder/              the decoder (save_pretrained: config.json + safetensors)
    OUTPUT/latents.safetensors   one code per training shape, keyed by shape_id
    OUTPUT/train_log.jsonl       one line per epoch: losses, learning rates, speed
    OUTPUT/checkpoint/           the latest state, for --resume (safetensors + JSON only)

The objective and its schedule are DIT's (``latentmapper.models.dit_losses``). Each epoch
draws ``samples_per_shape`` fresh samples per shape, half inside and half outside as
DeepSDF does; Adam runs with separate learning rates for warper, template and codes, each
halved every ``lr_decay_interval`` epochs. On a CPU the shapes of each batch are split
over single-threaded worker threads (``cpu_workers``, default one per core), which keeps a
small shared CPU busy where PyTorch's own threads stall. Every output is written to a
temporary name and renamed, so an interrupted run leaves the last checkpoint intact;
``--resume`` continues from it and, with per-epoch seeds, repeats an uninterrupted run
exactly. ``max_minutes`` stops early (writing all outputs) when time runs out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from latentmapper.atomic import atomic_path  # noqa: E402
from latentmapper.geometry.batching import auto_workers, cpu_workers  # noqa: E402
from latentmapper.models.code_init import pca_codes  # noqa: E402
from latentmapper.models.dit import DITDecoder  # noqa: E402
from latentmapper.models.dit_losses import DITLossConfig, dit_loss  # noqa: E402

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
PRESETS = {"cpu": CONFIG_DIR / "dit_cpu.json", "gpu": CONFIG_DIR / "dit_gpu.json"}

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


# ----------------------------------------------------------------------------- configuration


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_config(preset: str | None, config_path: str | None, overrides: list[str]) -> dict:
    """Preset or file, then ``section.key=value`` overrides (values parsed as JSON)."""
    path = Path(config_path) if config_path else PRESETS[preset or "cpu"]
    config = json.loads(path.read_text())
    config.setdefault("model", {})
    config["training"] = {**TRAINING_DEFAULTS, **config.get("training", {})}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _parse_value(value)
    unknown = set(config["training"]) - set(TRAINING_DEFAULTS)
    if unknown:
        raise SystemExit(f"unknown training settings: {sorted(unknown)}")
    loss_keys = {f.name for f in fields(DITLossConfig)} - {"clamp_distance"}
    if set(config["training"]["loss"]) - loss_keys:
        raise SystemExit(f"unknown loss settings: {sorted(set(config['training']['loss']) - loss_keys)}")
    return config


def loss_config(config: dict) -> DITLossConfig:
    loss = dict(config["training"]["loss"])
    for key in ("curriculum_eps", "curriculum_lambda"):
        if key in loss:
            loss[key] = tuple(loss[key])
    return DITLossConfig(clamp_distance=float(config["model"].get("clamp_distance", 0.1)), **loss)


# ----------------------------------------------------------------------------- data


def load_training_shapes(dataset_dir: str, max_shapes: int | None = None) -> tuple[list[str], list[torch.Tensor]]:
    """Shape ids and (N, 4) float32 SDF samples of the ``train`` split."""
    import datasets

    split = datasets.load_from_disk(dataset_dir)["train"].select_columns(["shape_id", "sdf_samples"])
    if max_shapes is not None:
        split = split.select(range(min(max_shapes, len(split))))
    if len(split) == 0:
        raise SystemExit(f"the train split of {dataset_dir} is empty")
    split = split.with_format("numpy")
    ids = [str(s) for s in split["shape_id"]]
    if len(set(ids)) != len(ids):
        raise SystemExit("shape_id values in the train split are not unique")
    samples = []
    for sid, rows in zip(ids, split["sdf_samples"]):
        arr = torch.from_numpy(np.asarray(rows, dtype=np.float32).reshape(-1, 4).copy())
        if arr.shape[0] == 0:
            raise SystemExit(f"shape {sid} has no SDF samples")
        samples.append(arr)
    return ids, samples


class SampleDrawer:
    """Per-shape random subsets of SDF samples: half inside and half outside when asked, and
    optionally a fixed share from far outside.

    ``far_fraction`` of each draw comes from samples farther than ``far_distance`` (the SDF
    clamp) outside the surface, where the loss only teaches the sign. Near-surface samples
    dominate the data, so without this share a decoder sees few far points per step and can
    invent surface there: thin airplanes decoded with wings running on to the grid bounds.
    """

    def __init__(
        self, samples: list[torch.Tensor], count: int, balanced: bool, far_fraction: float = 0.0, far_distance: float = 0.1
    ) -> None:
        if not 0.0 <= far_fraction < 1.0:
            raise ValueError(f"far_fraction must be in [0, 1), got {far_fraction}")
        self.samples, self.count, self.balanced = samples, count, balanced
        self.num_far = int(round(count * far_fraction))
        self.inside = [torch.nonzero(s[:, 3] < 0).squeeze(1) for s in samples]
        self.outside = [torch.nonzero(s[:, 3] >= 0).squeeze(1) for s in samples]
        self.far = [torch.nonzero(s[:, 3] > far_distance).squeeze(1) for s in samples]

    def draw(self, shape: int, gen: torch.Generator) -> torch.Tensor:
        data = self.samples[shape]
        inside, outside, far = self.inside[shape], self.outside[shape], self.far[shape]
        num_far = self.num_far if len(far) else 0
        count = self.count - num_far
        if self.balanced and len(inside) and len(outside):
            half = count // 2
            parts = [
                inside[torch.randint(len(inside), (half,), generator=gen)],
                outside[torch.randint(len(outside), (count - half,), generator=gen)],
            ]
        else:
            parts = [torch.randint(len(data), (count,), generator=gen)]
        if num_far:
            parts.append(far[torch.randint(len(far), (num_far,), generator=gen)])
        pick = torch.cat(parts)
        pick = pick[torch.randperm(self.count, generator=gen)]  # the pair term pairs a prefix
        return data[pick]


# ----------------------------------------------------------------------------- checkpoints


def _optimizer_to_safetensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors = {}
    for pid, entry in state["state"].items():
        for name, value in entry.items():
            tensors[f"{pid}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, {"param_groups": state["param_groups"]}


def _optimizer_from_safetensors(tensors: dict, meta: dict) -> dict:
    state: dict = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(path: Path, decoder, codes: torch.Tensor, optimizer, epoch: int, shape_ids, config) -> None:
    """Everything --resume needs, atomically, without pickles."""
    with atomic_path(path, is_dir=True) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        decoder.save_pretrained(tmp / "decoder", safe_serialization=True)
        save_file({"codes": codes.detach().cpu().contiguous()}, str(tmp / "codes.safetensors"))
        tensors, meta = _optimizer_to_safetensors(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "optimizer.json").write_text(json.dumps(meta))
        (tmp / "state.json").write_text(json.dumps({"epoch": epoch, "shape_ids": shape_ids, "config": config}))


def load_checkpoint(path: Path) -> dict:
    state = json.loads((path / "state.json").read_text())
    state["decoder_dir"] = path / "decoder"
    state["codes"] = load_file(str(path / "codes.safetensors"))["codes"]
    state["optimizer"] = _optimizer_from_safetensors(
        load_file(str(path / "optimizer.safetensors")), json.loads((path / "optimizer.json").read_text())
    )
    return state


def write_outputs(output: Path, decoder, codes: torch.Tensor, shape_ids: list[str]) -> None:
    """The trained decoder and the per-shape latents, each written atomically."""
    with atomic_path(output / "decoder", is_dir=True) as tmp:
        decoder.save_pretrained(tmp, safe_serialization=True)
    latents = {sid: codes[i].detach().cpu().clone().contiguous() for i, sid in enumerate(shape_ids)}
    with atomic_path(output / "latents.safetensors") as tmp:
        save_file(latents, str(tmp), metadata={"latent_size": str(codes.shape[1]), "count": str(len(shape_ids))})


def _rewrite_log(log_path: Path, last_epoch: int) -> None:
    """Drop log lines past the checkpoint being resumed (they will be trained again)."""
    if not log_path.exists():
        return
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    keep = [line for line in lines if json.loads(line).get("epoch", 0) <= last_epoch]
    with atomic_path(log_path) as tmp:
        tmp.write_text("".join(line + "\n" for line in keep))


# ----------------------------------------------------------------------------- training


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


def train(args: argparse.Namespace) -> Path:
    config = load_config(args.preset, args.config, args.set or [])
    t = config["training"]
    for name in ("epochs", "samples_per_shape", "shapes_per_batch", "max_minutes", "seed"):
        value = getattr(args, name, None)
        if value is not None:
            t[name] = value
    output = Path(args.output)
    ckpt_dir, log_path = output / "checkpoint", output / "train_log.jsonl"

    accelerator = Accelerator(mixed_precision=t["mixed_precision"], cpu=args.cpu)
    torch.manual_seed(t["seed"])
    shape_ids, samples = load_training_shapes(args.dataset, args.max_shapes)

    resume = None
    if args.resume and (ckpt_dir / "state.json").exists():
        resume = load_checkpoint(ckpt_dir)
        if resume["shape_ids"] != shape_ids:
            raise SystemExit("the checkpoint was trained on other shapes than this dataset's train split")
        config["model"] = resume["config"]["model"]

    decoder = DITDecoder.from_pretrained(resume["decoder_dir"]) if resume else DITDecoder(**config["model"])
    config["model"] = {k: v for k, v in decoder.config.items() if not k.startswith("_")}
    latent_size = decoder.latent_size
    codes = torch.nn.Embedding(len(shape_ids), latent_size, max_norm=t["code_bound"])
    if resume:
        codes.weight.data.copy_(resume["codes"])
    else:
        initial_codes(codes, samples, t, decoder.config.clamp_distance)
    lrs = learning_rates(t, 1)
    optimizer = torch.optim.Adam(
        [
            {"params": decoder.warper.parameters(), "lr": lrs[0]},
            {"params": sdf_parameters(decoder), "lr": lrs[1]},
            {"params": codes.parameters(), "lr": lrs[2]},
        ]
    )
    if resume:
        optimizer.load_state_dict(resume["optimizer"])
    decoder, codes, optimizer = accelerator.prepare(decoder, codes, optimizer)
    device, unwrap = accelerator.device, accelerator.unwrap_model
    drawer = SampleDrawer(samples, t["samples_per_shape"], t["balanced_sampling"], t["far_fraction"],
                          config["model"]["clamp_distance"])
    run = Run(accelerator, decoder, codes, optimizer, drawer, loss_config(config), t)

    start_epoch, total_epochs = (resume["epoch"] + 1 if resume else 1), t["epochs"]
    if accelerator.is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        if resume:
            _rewrite_log(log_path, resume["epoch"])
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
                        save_checkpoint(ckpt_dir, unwrap(decoder), unwrap(codes).weight, optimizer, epoch, shape_ids, config)
                accelerator.wait_for_everyone()
                if stopped_early:
                    break
    bar.close()

    if accelerator.is_main_process:
        write_outputs(output, unwrap(decoder), unwrap(codes).weight, shape_ids)
        note = f" (stopped by max_minutes={t['max_minutes']} after epoch {epoch})" if stopped_early else ""
        accelerator.print(f"wrote {output / 'decoder'} and {output / 'latents.safetensors'}{note}")
    return output


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="a datasets.load_from_disk folder with a train split")
    p.add_argument("--output", required=True, help="run folder (decoder/, latents.safetensors, logs, checkpoint/)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="train/configs/dit_{preset}.json")
    p.add_argument("--config", help="a config JSON instead of a preset")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint if present")
    p.add_argument("--epochs", type=int)
    p.add_argument("--samples-per-shape", dest="samples_per_shape", type=int)
    p.add_argument("--shapes-per-batch", dest="shapes_per_batch", type=int)
    p.add_argument("--max-shapes", dest="max_shapes", type=int, help="use only the first N training shapes")
    p.add_argument("--max-minutes", dest="max_minutes", type=float, help="stop (and write outputs) after this long")
    p.add_argument("--seed", type=int)
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override, e.g. training.lr_codes=0.005 or model.latent_size=128"
    )
    return p


def main(argv: list[str] | None = None) -> Path:
    return train(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
