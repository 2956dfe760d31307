"""The descriptor autoencoder: compresses the bag-of-descriptors vector to a 512-d code.

As in the paper (Sec. 3.2, App. A.1): one hidden layer with ReLU on each side, trained with
an L2 reconstruction loss and Adam for 100 epochs, then frozen; the mapper reads the
bottleneck. The bottleneck itself is linear (no ReLU), so no code unit can die and the code
keeps sign information; the reconstruction layer is linear too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from torch import nn


@dataclass
class AutoencoderOutput(BaseOutput):
    """``reconstruction`` (B, input_dim) and the bottleneck ``code`` (B, code_dim)."""

    reconstruction: torch.Tensor
    code: torch.Tensor


class DescriptorAutoencoder(ModelMixin, ConfigMixin):
    """input -> Linear -> ReLU -> Linear (code) -> Linear -> ReLU -> Linear (reconstruction)."""

    @register_to_config
    def __init__(self, input_dim: int = 2040, hidden_dim: int = 1024, code_dim: int = 512) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, code_dim))
        self.decoder = nn.Sequential(nn.Linear(code_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, input_dim))

    def encode(self, bag: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) bag-of-descriptors vectors -> (B, code_dim) codes."""
        if bag.shape[-1] != self.config.input_dim:
            raise ValueError(f"input has {bag.shape[-1]} features, the autoencoder expects {self.config.input_dim}")
        return self.encoder(bag)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code)

    def forward(self, bag: torch.Tensor, return_dict: bool = True) -> AutoencoderOutput | tuple:
        code = self.encode(bag)
        out = AutoencoderOutput(reconstruction=self.decode(code), code=code)
        return out if return_dict else out.to_tuple()


__all__ = ["AutoencoderOutput", "DescriptorAutoencoder"]
