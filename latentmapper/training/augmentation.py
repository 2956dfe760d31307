"""The paper's image augmentation: random zoom in / out and rotation (optionally a mirror), white fill.

Every draw comes from a generator the caller seeds (by step, or by the batch's rows), so a
resumed run augments exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F


def random_affine(
    x: torch.Tensor, generator: torch.Generator, *, zoom: Sequence[float] = (1.0, 1.0),
    rotation_deg: float = 0.0, flip: bool = False, fill: float = 1.0,
) -> torch.Tensor:
    """Random zoom (scale factor in ``zoom``), rotation and optional mirror of [0, 1] images, white fill."""
    batch = x.shape[0]
    rand = torch.rand(batch, 3, generator=generator).to(x.device)
    scale = zoom[0] + (zoom[1] - zoom[0]) * rand[:, 0]
    angle = (rand[:, 1] * 2 - 1) * math.radians(rotation_deg)
    mirror = torch.where(rand[:, 2] < 0.5, -1.0, 1.0) if flip else torch.ones(batch, device=x.device)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos * mirror, -sin, zero], -1), torch.stack([sin * mirror, cos, zero], -1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


__all__ = ["random_affine"]
