"""Learned background removal: a small U-Net that predicts the object's matte.

    remover = LearnedMatting.from_pretrained("checkpoints/photo-matting")   # or a hub id
    alpha = remover(image)            # (H, W) float32 in [0, 1]

In a pipeline the U-Net itself is the optional ``matting`` component (a diffusers
``UNet2DModel``, saved and loaded as one), and photo mode wraps it in ``LearnedMatting``.

The classical matting (``matting``) decides object or background from colours, so an
airplane's wings, a pixel or two of colour mixed with the background, are cut. A network
that has seen many objects on many backgrounds keeps them. The model is ``diffusers``'
``UNet2DModel`` used as a plain image-to-matte U-Net: the timestep is always 0, so the time
embedding is a constant bias. ``train/train_matting.py`` trains it on photo-like renders of
training shapes (``photo_like``) with their true mattes; the shipped one
(``checkpoints/photo-matting``) has therefore learnt the stand-in photo domain, like the
translator, not real photos.

Images are letterboxed to a ``work_size`` square (the longest side scaled to it, the rest
filled by repeating the edge pixels), so any aspect ratio works; the matte is cropped back
and resized to the image. With ``keep_object`` (default) the matte is set to 0 outside the
object's main connected parts and their holes (``matting.object_parts``, as the classical
matting does): a stray blob of clutter changes the silhouette that photo mode frames by. On 30 photo-like
validation cars this took photo mode from 1.28x to 1.26x the clean render's Chamfer;
airplanes were unchanged (1.055x vs 1.063x on 10).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DModel
from PIL import Image
from scipy import ndimage

from .matting import object_parts

MATTING_TIMESTEP = 0


def matting_unet(
    block_out_channels: tuple[int, ...] = (8, 16, 32, 64, 64),
    layers_per_block: int = 1,
    norm_num_groups: int = 4,
    sample_size: int = 128,
) -> UNet2DModel:
    """An RGB -> matte-logit U-Net: convolutional levels, self-attention only in the middle block
    (at 1/16 of the side for five levels), which lets every pixel see the whole scene."""
    depth = len(block_out_channels)
    if any(c % norm_num_groups for c in block_out_channels):
        raise ValueError(f"every width in {block_out_channels} must be a multiple of norm_num_groups={norm_num_groups}")
    if sample_size % 2 ** (depth - 1):
        raise ValueError(f"sample_size {sample_size} must be divisible by 2^{depth - 1} for {depth} levels")
    return UNet2DModel(
        sample_size=sample_size, in_channels=3, out_channels=1, block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block, norm_num_groups=norm_num_groups,
        down_block_types=("DownBlock2D",) * depth, up_block_types=("UpBlock2D",) * depth,
    )


def letterbox(image: Image.Image, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """(size, size, 3) uint8: ``image`` scaled so its longest side is ``size``, edges repeated to a
    square; and the (left, top, width, height) of the image inside it."""
    width, height = image.size
    scale = size / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    pixels = np.asarray(image.convert("RGB").resize((w, h), Image.BILINEAR))
    left, top = (size - w) // 2, (size - h) // 2
    padded = np.pad(pixels, ((top, size - h - top), (left, size - w - left), (0, 0)), mode="edge")
    return padded, (left, top, w, h)


def to_model_input(pixels: np.ndarray) -> torch.Tensor:
    """(B, S, S, 3) or (S, S, 3) uint8 -> (B, 3, S, S) float in [-1, 1]."""
    batch = torch.from_numpy(np.ascontiguousarray(pixels))
    batch = batch[None] if batch.ndim == 3 else batch
    return batch.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def matte_logits(unet: UNet2DModel, batch: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) images in [-1, 1] -> (B, S, S) matte logits."""
    return unet(batch, MATTING_TIMESTEP).sample[:, 0]


class LearnedMatting:
    """``matting(image) -> (H, W) float32 alpha in [0, 1]`` from a trained matting U-Net."""

    def __init__(self, unet: UNet2DModel, work_size: int | None = None, keep_object: bool = True) -> None:
        self.unet = unet.eval().requires_grad_(False)
        self.keep_object = keep_object
        self.work_size = int(work_size or unet.config.sample_size)
        depth = len(unet.config.block_out_channels)
        if self.work_size % 2 ** (depth - 1):
            raise ValueError(f"work_size {self.work_size} must be divisible by 2^{depth - 1}")

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, work_size: int | None = None, keep_object: bool = True,
                        **kwargs) -> "LearnedMatting":
        """Load a ``UNet2DModel`` matting checkpoint (folder or hub id); fp16 weights are upcast."""
        unet = UNet2DModel.from_pretrained(str(name_or_path), **kwargs).float()
        if unet.config.in_channels != 3 or unet.config.out_channels != 1:
            raise ValueError(f"{name_or_path} is not a matting U-Net: it maps {unet.config.in_channels} channels "
                             f"to {unet.config.out_channels}, a matte needs 3 -> 1")
        return cls(unet, work_size=work_size, keep_object=keep_object)

    @torch.no_grad()
    def __call__(self, image: Image.Image) -> np.ndarray:
        pixels, (left, top, w, h) = letterbox(image, self.work_size)
        param = next(self.unet.parameters())
        logits = matte_logits(self.unet, to_model_input(pixels).to(param.device, param.dtype))
        alpha = torch.sigmoid(logits[0].float()).cpu().numpy()[top:top + h, left:left + w]
        if self.keep_object and (alpha > 0.5).any():
            alpha = alpha * ndimage.binary_fill_holes(object_parts(alpha > 0.5))
        if (w, h) != image.size:
            alpha = np.asarray(Image.fromarray(alpha).resize(image.size, Image.BILINEAR))
        return np.clip(alpha, 0.0, 1.0).astype(np.float32)


__all__ = ["LearnedMatting", "letterbox", "matte_logits", "matting_unet", "to_model_input"]
