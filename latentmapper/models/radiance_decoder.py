"""The trainable decoder of GOEmbed's 3D representations: features -> density and colour.

Shared by every representation (voxel grid, triplane) and rendered by
``latentmapper.geometry.volume_rendering``; GOEmbed (``models/goembed.py``) trains it
through the gradient its embedding is taken from.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..geometry.volume_rendering import BACKGROUND


class RadianceDecoder(nn.Module):
    """The small MLP shared by all representations: features -> density >= 0 and colour.

    Zero features decode to a faint uniform density (``density_at_origin``, learnable
    through the output bias) and exactly the background colour: colour is
    ``bg + tanh(h(f) - h(0))``. So the zero representation renders exactly white, while
    the colour path keeps a non-zero gradient at the origin (a zero density there would
    stop every colour gradient, and a density at zero features cannot be non-negative
    and smooth with a non-zero slope).
    """

    def __init__(self, feature_dim: int, hidden_size: int = 32, num_layers: int = 2,
                 density_at_origin: float = 0.2, background: float = BACKGROUND) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = feature_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_size), nn.SiLU()]
            width = hidden_size
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(width, 4)
        self.background = float(background)
        with torch.no_grad():  # start near the origin's fog: softplus(bias) = density_at_origin
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()
            self.out.bias[0] = math.log(math.expm1(density_at_origin))

    def raw(self, features: torch.Tensor) -> torch.Tensor:
        """(..., C) -> the MLP's pre-activation outputs (..., 4): density logit, colour logits."""
        return self.out(self.hidden(features))

    def activate(self, raw: torch.Tensor, raw_at_origin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-activations -> density (...), colour (..., 3); colour is relative to the origin's."""
        density = F.softplus(raw[..., 0])
        colour = self.background + torch.tanh(raw[..., 1:] - raw_at_origin[1:])
        return density, colour

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., C) -> density (...), colour (..., 3)."""
        return self.activate(self.raw(features), self.raw(features.new_zeros(1, features.shape[-1]))[0])

    def linearized_at_origin(self, feature_dim: int, like: torch.Tensor,
                             create_graph: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(raw(0) (4,), Jacobian d raw / d features at 0 (4, C)), differentiable w.r.t. the MLP's weights.

        Rendering with ``raw(0) + J f`` has the same value and the same gradient at f = 0 as
        rendering with the MLP, hence the same derivatives of that gradient w.r.t. the weights.
        """
        zero = like.new_zeros(feature_dim)
        jacobian = torch.autograd.functional.jacobian(self.raw, zero, create_graph=create_graph)
        return self.raw(zero), jacobian


__all__ = ["RadianceDecoder"]
