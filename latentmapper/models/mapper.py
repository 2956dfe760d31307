"""The latent mapper: [autoencoder code, CLIP embedding] -> DIT latent code.

As in the paper (Sec. 3.2, App. A.2): the 512-d code and the 512-d CLIP embedding are
concatenated (1024) and passed through three hidden layers with tanh, then a linear layer to
the DIT latent; trained with an L1 loss and Adam, with early stopping on validation.

Two fixed affine maps, stored as buffers and set once from the training data with
:meth:`LatentMapper.set_normalization`, put inputs and targets on a unit scale: CLIP
entries are ~0.04 while autoencoder codes can be ~1, and DIT latents are small, so without
them the tanh layers saturate or barely move. They change only the parametrisation: the
output is still a latent in DIT's own scale, and the loss is taken there.
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn


class LatentMapper(ModelMixin, ConfigMixin):
    """(code, clip) -> latent through ``num_hidden_layers`` tanh layers of ``hidden_size``."""

    @register_to_config
    def __init__(
        self,
        latent_size: int = 512,
        code_dim: int = 512,
        clip_dim: int = 512,
        hidden_size: int = 1024,
        num_hidden_layers: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = code_dim + clip_dim
        for _ in range(num_hidden_layers):
            layers += [nn.Linear(width, hidden_size), nn.Tanh()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden_size
        layers.append(nn.Linear(width, latent_size))
        self.net = nn.Sequential(*layers)
        self.register_buffer("input_mean", torch.zeros(code_dim + clip_dim))
        self.register_buffer("input_std", torch.ones(code_dim + clip_dim))
        self.register_buffer("latent_mean", torch.zeros(latent_size))
        self.register_buffer("latent_std", torch.ones(latent_size))

    @torch.no_grad()
    def set_normalization(self, inputs: torch.Tensor, latents: torch.Tensor, eps: float = 1e-4) -> None:
        """Per-feature mean/std of the (N, code+clip) training inputs and (N, latent) targets."""
        self.input_mean.copy_(inputs.mean(0))
        self.input_std.copy_(inputs.std(0).clamp_min(eps))
        self.latent_mean.copy_(latents.mean(0))
        self.latent_std.copy_(latents.std(0).clamp_min(eps))

    def forward(self, code: torch.Tensor, clip_embedding: torch.Tensor) -> torch.Tensor:
        """(B, code_dim) autoencoder codes and (B, clip_dim) CLIP embeddings -> (B, latent_size)."""
        if code.shape[-1] != self.config.code_dim or clip_embedding.shape[-1] != self.config.clip_dim:
            raise ValueError(
                f"expected code ({self.config.code_dim}) and CLIP ({self.config.clip_dim}) features, got "
                f"{code.shape[-1]} and {clip_embedding.shape[-1]}"
            )
        x = (torch.cat([code, clip_embedding], dim=-1) - self.input_mean) / self.input_std
        return self.net(x) * self.latent_std + self.latent_mean


__all__ = ["LatentMapper"]
