"""The two baselines of the paper's Table 3, rebuilt on our data (paper App. B).

* :class:`ImNetBaseline` — the IM-NET-style baseline as the paper ran it: a ResNet image
  encoder fed a grayscale render of the fixed view, trained with a mean squared loss to
  regress the latent code of a frozen implicit decoder. Here that decoder is the same DIT
  the LatentMapper decodes with, so the two differ only in how an image becomes a latent.
* :class:`AtlasNet` — AtlasNet with 25 square patches (Groueix et al. 2018): the same kind
  of image encoder gives a shape code; 25 small MLPs each map a point of the unit square,
  with the code, to a 3D point. Trained with a Chamfer loss, it outputs a mesh directly
  (each patch's square grid, triangulated), so it needs no meshing step at all.

The ResNet is transformers' ``ResNetModel`` (basic blocks), sized by the config; images go
in as [0, 1] pixels and are normalised inside the model, so training and inference share
one preprocessing function, :func:`images_to_pixels`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import PIL.Image
import torch
import trimesh
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn
from transformers import ResNetConfig, ResNetModel


def images_to_pixels(images: Sequence[PIL.Image.Image], image_size: int, grayscale: bool) -> torch.Tensor:
    """PIL images -> (B, 1 or 3, S, S) float pixels in [0, 1], resized with bicubic filtering."""
    if len(images) == 0:
        raise ValueError("no images given")
    mode = "L" if grayscale else "RGB"
    arrays = []
    for i, image in enumerate(images):
        if not isinstance(image, PIL.Image.Image):
            raise TypeError(f"image {i} is a {type(image).__name__}, not a PIL image")
        image = image.convert("RGB").convert(mode).resize((image_size, image_size), PIL.Image.BICUBIC)
        array = np.asarray(image, dtype=np.float32) / 255.0
        arrays.append(array[None] if grayscale else array.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(arrays))


class ResNetImageEncoder(nn.Module):
    """[0, 1] pixels -> (B, width) pooled ResNet features (transformers ``ResNetModel``, basic blocks)."""

    def __init__(self, num_channels: int, embedding_size: int, hidden_sizes: Sequence[int], depths: Sequence[int]) -> None:
        super().__init__()
        config = ResNetConfig(num_channels=num_channels, embedding_size=embedding_size, hidden_sizes=list(hidden_sizes),
                              depths=list(depths), layer_type="basic", hidden_act="relu")
        self.resnet = ResNetModel(config)
        self.width = int(hidden_sizes[-1])

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if pixels.dim() != 4 or pixels.shape[1] != self.resnet.config.num_channels:
            raise ValueError(f"expected (B, {self.resnet.config.num_channels}, H, W) pixels, got {tuple(pixels.shape)}")
        return self.resnet((pixels - 0.5) / 0.5).pooler_output.flatten(1)


def _check_pixels(pixels: torch.Tensor, image_size: int) -> None:
    if pixels.shape[-2:] != (image_size, image_size):
        raise ValueError(f"expected {image_size}x{image_size} pixels (see images_to_pixels), got {tuple(pixels.shape)}")


class ImNetBaseline(ModelMixin, ConfigMixin):
    """IM-NET-style single-view baseline: fixed-view grayscale image -> ResNet -> DIT latent.

    ``latent_mean`` / ``latent_std`` (buffers, set by :meth:`set_normalization` from the
    training codes) let the head predict unit-scale values; the output is in DIT's scale.
    """

    @register_to_config
    def __init__(
        self,
        latent_size: int = 64,
        image_size: int = 64,
        grayscale: bool = True,
        embedding_size: int = 32,
        hidden_sizes: Sequence[int] = (32, 64, 128, 256),
        depths: Sequence[int] = (1, 1, 1, 1),
        head_hidden_size: int = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoder = ResNetImageEncoder(1 if grayscale else 3, embedding_size, hidden_sizes, depths)
        self.head = nn.Sequential(nn.Linear(self.encoder.width, head_hidden_size), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(head_hidden_size, latent_size))
        self.register_buffer("latent_mean", torch.zeros(latent_size))
        self.register_buffer("latent_std", torch.ones(latent_size))

    @torch.no_grad()
    def set_normalization(self, latents: torch.Tensor, eps: float = 1e-4) -> None:
        """Per-dimension mean / std of the (N, latent_size) training codes."""
        self.latent_mean.copy_(latents.mean(0))
        self.latent_std.copy_(latents.std(0).clamp_min(eps))

    def preprocess(self, images: Sequence[PIL.Image.Image]) -> torch.Tensor:
        """PIL images -> the pixels this model takes, on its device."""
        pixels = images_to_pixels(images, self.config.image_size, self.config.grayscale)
        return pixels.to(self.device, self.dtype)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) pixels in [0, 1] -> (B, latent_size) DIT latents."""
        _check_pixels(pixels, self.config.image_size)
        return self.head(self.encoder(pixels)) * self.latent_std + self.latent_mean


class AtlasNet(ModelMixin, ConfigMixin):
    """AtlasNet-25: image -> shape code -> ``num_patches`` MLPs, each mapping the unit square to a surface patch.

    The patch MLPs are stored stacked, (patches, in, out) per layer, so all patches run as
    one batched matrix product; each is still its own MLP with its own weights. Every layer
    but the last has a ReLU; the last has tanh, as in AtlasNet (shapes lie in the unit ball).
    """

    @register_to_config
    def __init__(
        self,
        num_patches: int = 25,
        code_dim: int = 256,
        decoder_hidden_size: int = 128,
        decoder_num_layers: int = 3,
        image_size: int = 64,
        grayscale: bool = True,
        embedding_size: int = 32,
        hidden_sizes: Sequence[int] = (32, 64, 128, 256),
        depths: Sequence[int] = (1, 1, 1, 1),
    ) -> None:
        super().__init__()
        if num_patches < 1 or decoder_num_layers < 1:
            raise ValueError("num_patches and decoder_num_layers must be at least 1")
        self.encoder = ResNetImageEncoder(1 if grayscale else 3, embedding_size, hidden_sizes, depths)
        self.bottleneck = nn.Sequential(nn.Linear(self.encoder.width, code_dim), nn.ReLU())
        hidden = decoder_hidden_size
        self.first_uv = nn.Parameter(self._uniform(num_patches, 2, hidden, fan_in=2 + code_dim))
        self.first_code = nn.Parameter(self._uniform(num_patches, code_dim, hidden, fan_in=2 + code_dim))
        self.first_bias = nn.Parameter(self._uniform(num_patches, 1, hidden, fan_in=2 + code_dim))
        self.hidden_weights = nn.ParameterList(
            nn.Parameter(self._uniform(num_patches, hidden, hidden, fan_in=hidden)) for _ in range(decoder_num_layers - 1))
        self.hidden_biases = nn.ParameterList(
            nn.Parameter(self._uniform(num_patches, 1, hidden, fan_in=hidden)) for _ in range(decoder_num_layers - 1))
        self.out_weight = nn.Parameter(self._uniform(num_patches, hidden, 3, fan_in=hidden))
        self.out_bias = nn.Parameter(self._uniform(num_patches, 1, 3, fan_in=hidden))

    @staticmethod
    def _uniform(*shape: int, fan_in: int) -> torch.Tensor:
        """nn.Linear's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        bound = 1.0 / math.sqrt(fan_in)
        return torch.empty(*shape).uniform_(-bound, bound)

    def preprocess(self, images: Sequence[PIL.Image.Image]) -> torch.Tensor:
        pixels = images_to_pixels(images, self.config.image_size, self.config.grayscale)
        return pixels.to(self.device, self.dtype)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) pixels in [0, 1] -> (B, code_dim) shape codes."""
        _check_pixels(pixels, self.config.image_size)
        return self.bottleneck(self.encoder(pixels))

    def decode(self, code: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
        """Codes (B, code_dim) and square points (P, N, 2) or (N, 2) -> surface points (B, P, N, 3)."""
        patches = self.config.num_patches
        if uv.dim() == 2:
            uv = uv.expand(patches, *uv.shape)
        if uv.dim() != 3 or uv.shape[0] != patches or uv.shape[2] != 2:
            raise ValueError(f"uv must be (N, 2) or ({patches}, N, 2), got {tuple(uv.shape)}")
        uv = uv.to(code.dtype)
        batch, num = code.shape[0], uv.shape[1]
        # the code's part of the first layer is one vector per (patch, shape): added as a bias.
        # Points run patch-major, (P, B*N, H), so each layer is one batched matrix product.
        code_part = torch.einsum("bc,pch->pbh", code, self.first_code)[:, :, None, :]  # (P, B, 1, H)
        uv_part = (torch.bmm(uv, self.first_uv) + self.first_bias)[:, None]  # (P, 1, N, H)
        h = torch.relu(code_part + uv_part).reshape(self.config.num_patches, batch * num, -1)
        for weight, bias in zip(self.hidden_weights, self.hidden_biases):
            h = torch.relu(torch.baddbmm(bias, h, weight))
        out = torch.tanh(torch.baddbmm(self.out_bias, h, self.out_weight))  # (P, B*N, 3)
        return out.reshape(self.config.num_patches, batch, num, 3).transpose(0, 1)

    def forward(self, pixels: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(pixels), uv)

    def random_uv(self, points_per_patch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(P, N, 2) uniform samples of the unit square, one set per patch (the training input)."""
        return torch.rand(self.config.num_patches, points_per_patch, 2, generator=generator).to(self.device)

    @torch.no_grad()
    def meshes(self, pixels: torch.Tensor, grid_size: int = 10) -> list[trimesh.Trimesh]:
        """One mesh per image: each patch's ``grid_size`` x ``grid_size`` grid, two triangles per cell."""
        uv, faces = square_grid(grid_size)
        points = self.decode(self.encode(pixels), uv.to(self.device)).float().cpu().numpy()  # (B, P, G*G, 3)
        offsets = np.arange(self.config.num_patches)[:, None, None] * len(uv)
        all_faces = (faces[None] + offsets).reshape(-1, 3)
        return [trimesh.Trimesh(p.reshape(-1, 3), all_faces, process=False) for p in points]


def square_grid(grid_size: int) -> tuple[torch.Tensor, np.ndarray]:
    """A regular grid on the unit square, (G*G, 2), and its triangles, (2 (G-1)^2, 3)."""
    if grid_size < 2:
        raise ValueError(f"grid_size must be at least 2, got {grid_size}")
    ticks = torch.linspace(0.0, 1.0, grid_size)
    uv = torch.stack(torch.meshgrid(ticks, ticks, indexing="ij"), dim=-1).reshape(-1, 2)
    idx = np.arange(grid_size * grid_size).reshape(grid_size, grid_size)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
    faces = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
    return uv, faces


def chamfer_loss(pred: torch.Tensor, target: torch.Tensor, shapes_per_chunk: int = 8) -> torch.Tensor:
    """Mean over shapes of the symmetric Chamfer distance (mean squared NN distance each way, summed).

    ``pred`` (B, M, 3), ``target`` (B, K, 3): the metric of ``geometry.chamfer_distance``,
    differentiable. Shapes go in chunks so the (chunk, M, K) distance matrix stays small.
    """
    if pred.dim() != 3 or target.dim() != 3 or pred.shape[0] != target.shape[0] or pred.shape[2] != 3:
        raise ValueError(f"expected (B, M, 3) and (B, K, 3) point sets, got {tuple(pred.shape)} and {tuple(target.shape)}")
    total = pred.new_zeros(())
    for s in range(0, pred.shape[0], shapes_per_chunk):
        a, b = pred[s : s + shapes_per_chunk], target[s : s + shapes_per_chunk].to(pred.dtype)
        d = (a.square().sum(-1)[:, :, None] + b.square().sum(-1)[:, None, :] - 2 * a @ b.transpose(1, 2)).clamp_min(0)
        total = total + (d.min(2).values.mean(1) + d.min(1).values.mean(1)).sum()
    return total / pred.shape[0]


__all__ = ["AtlasNet", "ImNetBaseline", "ResNetImageEncoder", "chamfer_loss", "images_to_pixels", "square_grid"]
