"""Resumable training checkpoints, one format for every stage, without pickles.

A checkpoint is a folder, replaced atomically, so an interrupted save leaves the previous one
intact::

    model.safetensors       the module's weights (several modules: pass them as an nn.ModuleDict)
    optimizer.safetensors   every optimizer's tensors, keyed "<name>.<parameter index>.<key>"
    extra.safetensors       other tensors the run needs back (image pools), when there are any
    state.json              the stage's own state (step or epoch, history, config) and the
                            optimizers' hyper-parameters

Shuffling and augmentation draw from generators seeded by the step or epoch, so a resumed
run continues exactly as the uninterrupted one would have.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Mapping

import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_file, save_model

from latentmapper.atomic import atomic_path

STATE_FILE = "state.json"
Optimizers = torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer]


def _named(optimizers: Optimizers) -> Mapping[str, torch.optim.Optimizer]:
    return {"optimizer": optimizers} if isinstance(optimizers, torch.optim.Optimizer) else optimizers


def _split_optimizer(name: str, state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state dict as tensors (for safetensors) and JSON (everything else)."""
    tensors, meta = {}, {"param_groups": state_dict["param_groups"], "state": {}}
    for index, entry in state_dict["state"].items():
        kinds = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{name}.{index}.{key}"] = value.detach().cpu().contiguous()
                kinds[key] = None  # stored as a tensor
            else:
                kinds[key] = value
        meta["state"][str(index)] = kinds
    return tensors, meta


def _join_optimizer(name: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state = {}
    for index, kinds in meta["state"].items():
        state[int(index)] = {k: tensors[f"{name}.{index}.{k}"] if v is None else v for k, v in kinds.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizers: Optimizers, state: dict,
                    tensors: Mapping[str, torch.Tensor] | None = None) -> None:
    """``model``'s weights, the optimizers, ``state`` (JSON) and extra ``tensors`` into ``folder``, atomically.

    A lone optimizer is named ``"optimizer"``; pass a mapping to save several.
    """
    with atomic_path(Path(folder), is_dir=True) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        save_model(model, str(tmp / "model.safetensors"))
        all_tensors, metas = {}, {}
        for name, optimizer in _named(optimizers).items():
            part, metas[name] = _split_optimizer(name, optimizer.state_dict())
            all_tensors.update(part)
        save_file(all_tensors, str(tmp / "optimizer.safetensors"))
        if tensors:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / "extra.safetensors"))
        (tmp / STATE_FILE).write_text(json.dumps({**state, "optimizers": metas}, indent=1))


def read_state(folder: Path) -> dict:
    """The stage's state of a checkpoint (without the optimizers), e.g. to rebuild its model first."""
    state = json.loads((Path(folder) / STATE_FILE).read_text())
    if "optimizers" not in state:
        raise SystemExit(f"{folder} was written by an older version of the training scripts and cannot be "
                         "resumed: start the stage again (without --resume, or with --overwrite)")
    state.pop("optimizers")
    return state


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizers: Optimizers) -> dict:
    """Restore what :func:`save_checkpoint` wrote into ``model`` and the optimizers; returns its ``state``."""
    folder = Path(folder)
    read_state(folder)  # a clear error for a checkpoint of the old format
    state = json.loads((folder / STATE_FILE).read_text())
    metas = state.pop("optimizers")
    load_model(model, str(folder / "model.safetensors"), device=str(next(model.parameters()).device))
    with safe_open(str(folder / "optimizer.safetensors"), framework="pt") as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    for name, optimizer in _named(optimizers).items():
        optimizer.load_state_dict(_join_optimizer(name, tensors, metas[name]))
    return state


def load_extra_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """The extra tensors a checkpoint holds (empty when it holds none)."""
    path = Path(folder) / "extra.safetensors"
    if not path.is_file():
        return {}
    with safe_open(str(path), framework="pt") as f:
        return {key: f.get_tensor(key) for key in f.keys()}


def checkpoint_for(output: Path, name: str, *, resume: bool, overwrite: bool) -> Path | None:
    """The checkpoint folder to resume from, or None to start afresh; refuses to silently discard one."""
    folder = Path(output) / name
    if folder.is_dir() and (folder / STATE_FILE).is_file():
        if resume:
            return folder
        if not overwrite:
            raise SystemExit(f"{folder} holds a checkpoint: pass --resume to continue it or --overwrite to start again")
        shutil.rmtree(folder)
    return None


__all__ = ["STATE_FILE", "checkpoint_for", "load_checkpoint", "load_extra_tensors", "read_state", "save_checkpoint"]
