"""Renders held in memory as uint8 tensors at a checkpoint's input size, normalised per batch.

Renders are resized once by the checkpoint's own image processor and kept as uint8, so an
epoch reads memory rather than PNGs; normalisation (the processor's mean and std) happens
per batch, after augmentation.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm


def cache_images(split, processor, *, batch_shapes: int = 32, desc: str = "renders") -> torch.Tensor:
    """(S, V, 3, H, W) uint8: every view of every shape, resized/cropped by ``processor``."""
    out = []
    for start in tqdm(range(0, len(split), batch_shapes), desc=desc, unit="chunk"):
        rows = split.select(range(start, min(start + batch_shapes, len(split))))["images"]
        flat = [image.convert("RGB") for views in rows for image in views]
        pixels = processor(flat, do_rescale=False, do_normalize=False, return_tensors="pt")["pixel_values"]
        out.append(pixels.round().clamp(0, 255).to(torch.uint8).reshape(len(rows), len(rows[0]), *pixels.shape[1:]))
    return torch.cat(out)


def normalize_pixels(x: torch.Tensor, processor) -> torch.Tensor:
    """[0, 1] images -> the processor's normalisation."""
    mean = torch.tensor(processor.image_mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(processor.image_std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


__all__ = ["cache_images", "normalize_pixels"]
