"""DIT codes by shape id: a run's ``latents.safetensors`` and the codes fitted to other splits."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from latentmapper.atomic import atomic_path


def load_latents(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """DIT codes by shape id from ``RUN/latents.safetensors`` (or the RUN folder itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / "latents.safetensors"
    with safe_open(str(path), framework="pt") as f:
        return {key: f.get_tensor(key).float() for key in f.keys()}


def save_latents(path: Path, codes: torch.Tensor, shape_ids: list[str]) -> None:
    """One code per shape id (rows of ``codes``), atomically, as ``load_latents`` reads them."""
    latents = {sid: codes[i].detach().cpu().clone().contiguous() for i, sid in enumerate(shape_ids)}
    with atomic_path(Path(path)) as tmp:
        save_file(latents, str(tmp), metadata={"latent_size": str(codes.shape[1]), "count": str(len(shape_ids))})


__all__ = ["load_latents", "save_latents"]
