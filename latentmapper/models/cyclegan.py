"""CycleGAN components (Zhu et al. 2017) for real-to-synthetic translation (paper Sec. 3.3).

``ResnetGenerator`` is the pipeline's ``translator``: (B, 3, S, S) images in [-1, 1] in, the
same out (``.sample``), S = ``config.image_size``. ``PatchDiscriminator`` scores overlapping
patches (a 70x70 PatchGAN with ``num_layers=3``). Both are diffusers ``ModelMixin`` +
``ConfigMixin``, saved as safetensors with a ``config.json``. ``ImagePool`` is the history of
generated images that the discriminators are trained on (50 in the paper).

Two options, both off in the classic architecture, keep the shipped translator small
(it travels inside every pipeline) and quick to train on a CPU:

* ``max_channels`` caps the width after downsampling, so a third downsampling (a wider
  receptive field, which global colour and lighting corrections need) adds no weights;
* ``residual_output`` makes the generator predict a correction to its input (in tanh
  space), so the untrained network is already the identity and training spends its steps on
  what differs between the domains rather than on learning to copy the image.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from torch import nn

NORMS = ("instance", "batch", "none")


@dataclass
class GeneratorOutput(BaseOutput):
    """``sample``: (B, 3, S, S) translated images in [-1, 1]."""

    sample: torch.Tensor


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class ResidualBlock(nn.Module):
    """x + [reflect-pad, conv3x3, norm, ReLU, reflect-pad, conv3x3, norm](x)."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=norm != "batch"), _norm(norm, channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=norm != "batch"), _norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(ModelMixin, ConfigMixin):
    """c7s1-ngf, ``num_downsamplings`` stride-2 convs, ``num_res_blocks`` residual blocks, mirrored up, c7s1-3, tanh."""

    @register_to_config
    def __init__(
        self,
        image_size: int = 128,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 16,
        num_downsamplings: int = 2,
        num_res_blocks: int = 4,
        max_channels: int = 256,
        norm: str = "instance",
        residual_output: bool = False,
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if image_size % (2 ** num_downsamplings):
            raise ValueError(f"image_size {image_size} is not divisible by 2^{num_downsamplings}")
        if residual_output and in_channels != out_channels:
            raise ValueError("residual_output needs in_channels == out_channels")
        bias = norm != "batch"
        widths = [min(ngf * 2 ** i, max_channels) for i in range(num_downsamplings + 1)]
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, widths[0], 7, bias=bias),
                                   _norm(norm, widths[0]), nn.ReLU(inplace=True)]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1, bias=bias), _norm(norm, b), nn.ReLU(inplace=True)]
        layers += [ResidualBlock(widths[-1], norm) for _ in range(num_res_blocks)]
        for a, b in zip(widths[::-1][:-1], widths[::-1][1:]):
            layers += [nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       _norm(norm, b), nn.ReLU(inplace=True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(widths[0], out_channels, 7)]
        self.net = nn.Sequential(*layers)
        if residual_output:  # start as the identity: a zero correction
            nn.init.zeros_(self.net[-1].weight)
            nn.init.zeros_(self.net[-1].bias)

    def forward(self, sample: torch.Tensor, return_dict: bool = True) -> GeneratorOutput | tuple:
        """(B, in_channels, H, W) in [-1, 1] -> (B, out_channels, H, W) in [-1, 1]; H, W multiples of 2^downsamplings."""
        if sample.dim() != 4 or sample.shape[1] != self.config.in_channels:
            raise ValueError(f"expected (B, {self.config.in_channels}, H, W) images, got {tuple(sample.shape)}")
        step = 2 ** self.config.num_downsamplings
        if sample.shape[-1] % step or sample.shape[-2] % step:
            raise ValueError(f"image sides must be multiples of {step}, got {tuple(sample.shape[-2:])}")
        out = self.net(sample)
        if self.config.residual_output:
            out = torch.tanh(torch.atanh(sample.clamp(-0.999, 0.999)) + out)
        else:
            out = torch.tanh(out)
        return GeneratorOutput(sample=out) if return_dict else (out,)


class PatchDiscriminator(ModelMixin, ConfigMixin):
    """PatchGAN: C64-C128-C256-C512-style stack (``ndf`` doubling, capped at 8 ndf) -> one logit per patch."""

    @register_to_config
    def __init__(self, in_channels: int = 3, ndf: int = 64, num_layers: int = 3, norm: str = "instance") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for i in range(1, num_layers + 1):
            new = ndf * min(2 ** i, 8)
            stride = 2 if i < num_layers else 1
            layers += [nn.Conv2d(width, new, 4, stride=stride, padding=1, bias=bias), _norm(norm, new),
                       nn.LeakyReLU(0.2, True)]
            width = new
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1, h, w) real/fake scores (least-squares targets 1 and 0)."""
        return self.net(sample)


class ImagePool:
    """The last ``size`` generated images; the discriminator sees a mix of new and old fakes.

    As in CycleGAN (after Shrivastava et al.): each new image is returned as is half the time
    once the pool is full, and otherwise swapped for a random stored one, which damps the
    oscillation of the two players. ``size=0`` turns the pool off.
    """

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        self.size, self.images = size, []
        self.random = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self.random.random() < 0.5:
                k = self.random.randrange(self.size)
                out.append(self.images[k].clone())
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)

    def state_tensor(self) -> torch.Tensor:
        """The stored images as one tensor (for checkpoints); empty when the pool is."""
        return torch.cat(self.images) if self.images else torch.zeros(0)

    def load_state_tensor(self, tensor: torch.Tensor) -> None:
        self.images = [t.unsqueeze(0).clone() for t in tensor] if tensor.numel() else []


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def fp16_megabytes(model: nn.Module) -> float:
    """Size of the weights saved in fp16, in MB (what a pipeline ships)."""
    return parameter_count(model) * 2 / 1e6


__all__ = [
    "GeneratorOutput", "ImagePool", "PatchDiscriminator", "ResidualBlock", "ResnetGenerator", "fp16_megabytes",
    "parameter_count",
]
