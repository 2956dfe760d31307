"""Plumbing shared by the encoder, feature, autoencoder and mapper scripts.

Presets (``train/configs/<stage>_<preset>.json``), the Accelerator, resumable checkpoints and
the cached features. Checkpoints hold no pickles: weights and optimizer tensors go to
safetensors, everything else (epoch, history, optimizer hyper-parameters) to JSON, and the
folder is replaced atomically, so an interrupted save leaves the previous checkpoint intact.
Shuffling and augmentation draw from generators seeded by (seed, epoch, step), so a resumed
run continues exactly as the uninterrupted one would have.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import time
from typing import Callable, Sequence

import torch
from accelerate import Accelerator
from safetensors import safe_open
from safetensors.torch import load_model, save_file, save_model

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as `python train/x.py` from a checkout
    sys.path.insert(0, str(REPO_ROOT))

from latentmapper.atomic import atomic_path  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
STATE_FILE = "state.json"


# ---- presets and the accelerator -----------------------------------------------------
def load_config(stage: str, preset: str = "cpu", config_path: str | os.PathLike | None = None) -> dict:
    """The preset ``configs/<stage>_<preset>.json``, or the file ``config_path`` when given."""
    path = Path(config_path) if config_path else CONFIG_DIR / f"{stage}_{preset}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no config {path}; presets are cpu and gpu")
    return json.loads(path.read_text())


def make_accelerator(config: dict) -> Accelerator:
    """CPU for the cpu preset (``"device": "cpu"``); otherwise the best device, with the preset's precision.

    ``"num_threads"`` caps PyTorch's CPU threads: on a small machine shared with other jobs,
    one thread is often several times faster than two fighting for the same cores.
    """
    if config.get("num_threads"):
        torch.set_num_threads(int(config["num_threads"]))
    cpu = config.get("device") == "cpu" or not torch.cuda.is_available()
    precision = "no" if cpu else config.get("mixed_precision", "no")
    return Accelerator(cpu=cpu, mixed_precision=precision)


def add_common_arguments(parser) -> None:
    parser.add_argument("--preset", choices=("cpu", "gpu"), default="cpu", help="train/configs/<stage>_<preset>.json")
    parser.add_argument("--config", default=None, help="a config JSON instead of the preset")
    parser.add_argument("--output", required=True, type=Path, help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    parser.add_argument("--overwrite", action="store_true", help="start again, discarding an existing checkpoint")


def checkpoint_for(output: Path, name: str, *, resume: bool, overwrite: bool) -> Path | None:
    """The checkpoint folder to resume from, or None to start afresh; refuses to silently discard one."""
    folder = output / name
    if folder.is_dir() and (folder / STATE_FILE).is_file():
        if resume:
            return folder
        if not overwrite:
            raise SystemExit(f"{folder} holds a checkpoint: pass --resume to continue it or --overwrite to start again")
        shutil.rmtree(folder)
    return None


# ---- checkpoints -------------------------------------------------------------------------
def _optimizer_tensors(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, meta = {}, {"param_groups": state_dict["param_groups"], "state": {}}
    for index, entry in state_dict["state"].items():
        kinds = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
                kinds[key] = None
            else:
                kinds[key] = value
        meta["state"][str(index)] = kinds
    return tensors, meta


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state = {}
    for index, kinds in meta["state"].items():
        state[int(index)] = {k: tensors[f"{index}.{k}"] if v is None else v for k, v in kinds.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer, state: dict) -> None:
    """Weights, optimizer tensors (safetensors) and ``state`` (JSON) into ``folder``, atomically."""
    with atomic_path(folder, is_dir=True) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        save_model(model, str(tmp / "model.safetensors"))
        tensors, meta = _optimizer_tensors(optimizer.state_dict())
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / STATE_FILE).write_text(json.dumps({**state, "optimizer": meta}, indent=1))


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer) -> dict:
    """Restore what :func:`save_checkpoint` wrote; returns its ``state``."""
    state = json.loads((folder / STATE_FILE).read_text())
    load_model(model, str(folder / "model.safetensors"), device=str(next(model.parameters()).device))
    with safe_open(str(folder / "optimizer.safetensors"), framework="pt") as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    optimizer.load_state_dict(_optimizer_state(tensors, state.pop("optimizer")))
    return state


def save_component(component, folder: Path, *extras) -> None:
    """``save_pretrained`` of a component (and of ``extras``: processors, tokenizers) atomically."""
    with atomic_path(folder, is_dir=True) as tmp:
        component.save_pretrained(tmp)
        for extra in extras:
            extra.save_pretrained(tmp)


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


# ---- batching ----------------------------------------------------------------------------
def epoch_batches(count: int, batch_size: int, *, seed: int, epoch: int, accelerator: Accelerator | None = None,
                  drop_last: bool = False) -> list[torch.Tensor]:
    """Shuffled index batches for one epoch, the same on resume; each process takes its share."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    batches = [order[i : i + batch_size] for i in range(0, count, batch_size)]
    if drop_last and len(batches) > 1 and len(batches[-1]) < batch_size:
        batches = batches[:-1]
    if accelerator is not None and accelerator.num_processes > 1:
        batches = [b[accelerator.process_index :: accelerator.num_processes] for b in batches]
    return batches


# ---- the epoch loop of the small vector models (autoencoder, mapper) -----------------------
def fit_vector_model(
    *,
    name: str,
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer,
    loss_fn: Callable[..., torch.Tensor],
    train_tensors: Sequence[torch.Tensor],
    val_tensors: Sequence[torch.Tensor],
    epochs: int,
    batch_size: int,
    seed: int,
    checkpoint_dir: Path,
    resume_from: Path | None = None,
    patience: int | None = None,
    on_improvement: Callable[[torch.nn.Module], None] | None = None,
) -> dict:
    """Mini-batch epochs of ``loss_fn(model, *tensors)`` over row-aligned tensors, checkpointed each epoch.

    After every epoch the validation loss (the same ``loss_fn`` on ``val_tensors``) is logged;
    ``on_improvement(model)`` runs whenever it is the best so far, and with ``patience`` the run
    stops once it has not improved for that many epochs. Returns the final state (history,
    best epoch and loss, whether it stopped early).
    """
    device = accelerator.device
    train_tensors = [t.to(device) for t in train_tensors]
    val_tensors = [t.to(device) for t in val_tensors]
    state = {"epoch": 0, "best_val": None, "best_epoch": 0, "bad_epochs": 0, "stopped_early": False,
             "seconds": 0.0, "history": []}
    if resume_from is not None:
        state = load_checkpoint(resume_from, accelerator.unwrap_model(model), optimizer)
        accelerator.print(f"{name}: resuming after epoch {state['epoch']}")
    started = time.perf_counter() - state["seconds"]
    count = train_tensors[0].shape[0]

    @torch.no_grad()
    def validation_loss() -> float:
        model.eval()
        total, rows = 0.0, val_tensors[0].shape[0]
        for i in range(0, rows, 4096):
            total += float(loss_fn(model, *(t[i : i + 4096] for t in val_tensors))) * min(4096, rows - i)
        return total / max(1, rows)

    bar = tqdm(total=epochs, initial=state["epoch"], desc=name, unit="epoch", disable=not accelerator.is_local_main_process)
    while state["epoch"] < epochs and not state["stopped_early"]:
        model.train()
        losses = []
        for index in epoch_batches(count, batch_size, seed=seed, epoch=state["epoch"], accelerator=accelerator):
            index = index.to(device)
            loss = loss_fn(model, *(t[index] for t in train_tensors))
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            losses.append(float(loss.detach()))
        val = validation_loss()
        state["epoch"] += 1
        improved = state["best_val"] is None or val < state["best_val"]
        if improved:
            state.update(best_val=val, best_epoch=state["epoch"], bad_epochs=0)
            if on_improvement is not None and accelerator.is_main_process:
                on_improvement(accelerator.unwrap_model(model))
        else:
            state["bad_epochs"] += 1
            state["stopped_early"] = patience is not None and state["bad_epochs"] >= patience
        state["seconds"] = time.perf_counter() - started
        state["history"].append({"epoch": state["epoch"], "train_loss": sum(losses) / max(1, len(losses)),
                                 "val_loss": val, "seconds": round(state["seconds"], 2)})
        if accelerator.is_main_process:
            save_checkpoint(checkpoint_dir, accelerator.unwrap_model(model), optimizer, state)
        accelerator.wait_for_everyone()
        bar.update(1)
        bar.set_postfix(train=f"{state['history'][-1]['train_loss']:.4g}", val=f"{val:.4g}",
                        best=f"{state['best_val']:.4g}@{state['best_epoch']}")
    bar.close()
    return state


# ---- cached features and targets ---------------------------------------------------------
@dataclass
class FeatureSplit:
    """Cached features of one split: per shape and view, the CLIP embedding and the bag vector."""

    shape_ids: list[str]
    clip: torch.Tensor  # (S, V, clip_dim)
    bag: torch.Tensor  # (S, V, bag_length)
    view_yaw: list[float]

    @property
    def num_views(self) -> int:
        return int(self.clip.shape[1])


AUGMENTED_SPLIT = "train_augmented"  # zoomed / rotated copies of the training views (precompute_features.py)


def novel_views_split(split: str) -> str:
    """The feature file of a split's renders from cameras between the training views (precompute_features.py)."""
    return f"{split}_novel_views"


def feature_file(features_dir: Path, split: str) -> Path:
    return Path(features_dir) / f"features_{split}.safetensors"


def load_feature_split(features_dir: Path, split: str) -> FeatureSplit:
    path = feature_file(features_dir, split)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run train/precompute_features.py first")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        clip, bag = f.get_tensor("clip"), f.get_tensor("bag")
    return FeatureSplit(json.loads(meta["shape_ids"]), clip.float(), bag.float(), json.loads(meta["view_yaw"]))


def load_latents(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """DIT codes by shape id from ``RUN/latents.safetensors`` (or the RUN folder itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / "latents.safetensors"
    with safe_open(str(path), framework="pt") as f:
        return {key: f.get_tensor(key).float() for key in f.keys()}


__all__ = [
    "CONFIG_DIR", "FeatureSplit", "add_common_arguments", "checkpoint_for", "epoch_batches", "feature_file",
    "fit_vector_model", "load_checkpoint", "load_config", "load_feature_split", "load_latents", "make_accelerator",
    "novel_views_split", "save_checkpoint", "save_component", "write_json",
]
