"""The frozen descriptor autoencoder's codes of bag vectors, as the mapper reads them."""

from __future__ import annotations

from pathlib import Path

import torch

from latentmapper.models.autoencoder import DescriptorAutoencoder


def load_autoencoder(path: Path) -> DescriptorAutoencoder:
    """The frozen autoencoder from its folder (or the train_autoencoder.py output folder)."""
    path = Path(path)
    if not (path / "config.json").is_file() and (path / "autoencoder" / "config.json").is_file():
        path = path / "autoencoder"
    return DescriptorAutoencoder.from_pretrained(path).eval().requires_grad_(False)


@torch.no_grad()
def encode_bags(autoencoder: DescriptorAutoencoder, bag: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """(..., bag_length) -> (..., code_dim) with the frozen encoder."""
    flat = bag.reshape(-1, bag.shape[-1])
    codes = torch.cat([autoencoder.encode(flat[i : i + batch]) for i in range(0, len(flat), batch)])
    return codes.reshape(*bag.shape[:-1], -1)


__all__ = ["encode_bags", "load_autoencoder"]
