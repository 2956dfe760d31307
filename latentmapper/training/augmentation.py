"""The paper's image augmentation: random zoom in / out and rotation (optionally a mirror and a shift), white fill.

The shift is not the paper's: the bag of descriptors pools keys over a 4x4 grid, so a render moved
by 3 pixels (2% of the side) can map to another shape, and a photo's framing is never exact.

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
    rotation_deg: float = 0.0, flip: bool = False, shift: float = 0.0, fill: float = 1.0,
) -> torch.Tensor:
    """Random zoom (scale factor in ``zoom``), rotation, optional mirror and shift (up to ``shift`` of the
    side across and down) of [0, 1] images, white fill.

    The shift is drawn after the other draws and only when asked for, so a configuration without
    one augments exactly as before it existed.
    """
    if not 0.0 <= shift < 0.5:
        raise ValueError(f"shift must be in [0, 0.5) of the image side, got {shift}")
    batch = x.shape[0]
    rand = torch.rand(batch, 3, generator=generator).to(x.device)
    scale = zoom[0] + (zoom[1] - zoom[0]) * rand[:, 0]
    angle = (rand[:, 1] * 2 - 1) * math.radians(rotation_deg)
    mirror = torch.where(rand[:, 2] < 0.5, -1.0, 1.0) if flip else torch.ones(batch, device=x.device)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    offset = torch.zeros(batch, 2, device=x.device)
    if shift > 0:  # affine_grid's coordinates span 2 per side
        offset = ((torch.rand(batch, 2, generator=generator) * 2 - 1) * 2 * shift).to(x.device)
    theta = torch.stack([torch.stack([cos * mirror, -sin, offset[:, 0]], -1),
                         torch.stack([sin * mirror, cos, offset[:, 1]], -1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


__all__ = ["random_affine"]
