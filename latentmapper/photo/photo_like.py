"""The stand-in photo domain: renders turned "photo-like" (a substitute for real photos, not real photos).

The paper trains its CycleGAN on the Car Connection photos; none can be downloaded here. So
the default translator learns from renders degraded the way photos differ from renders:

* the object: a lighting ramp across it (a light from one side), a tint;
* the scene: a background that is not a white studio (``backgrounds``), sometimes a
  contact shadow under the object, optionally a different size and place in the frame;
* the camera: exposure, contrast, gamma, white balance and saturation shifts, defocus blur,
  sensor noise (luminance and chroma), JPEG compression.

This teaches the translator to undo those effects, nothing more: reflections, textures,
real lighting and real backgrounds of actual photos are not in it. Every random choice is
drawn from the given ``numpy.random.Generator``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from .backgrounds import KINDS, random_background
from .framing import render_mask


@dataclass(frozen=True)
class PhotoLikeConfig:
    """Ranges of the degradations (uniformly drawn unless said otherwise)."""

    backgrounds: tuple[str, ...] = KINDS
    shadow_probability: float = 0.5
    zoom: tuple[float, float] = (1.0, 1.0)  # object scale in the frame; (1, 1) keeps the render's framing
    shift: float = 0.0  # largest shift of the object, as a fraction of the image side
    lighting_ramp: float = 0.5  # brightness change across the object, +- this much
    tint: float = 0.12  # per-channel gain on the object, 1 +- this
    exposure: tuple[float, float] = (0.7, 1.25)
    contrast: tuple[float, float] = (0.75, 1.2)
    gamma: tuple[float, float] = (0.75, 1.35)
    white_balance: float = 0.12  # per-channel camera gain, 1 +- this
    saturation: tuple[float, float] = (0.5, 1.4)
    blur_probability: float = 0.6
    blur_sigma: tuple[float, float] = (0.3, 1.3)  # pixels at 128 px, scaled with the image
    noise_sigma: tuple[float, float] = (1.0, 8.0)  # of 255
    chroma_noise: float = 0.5  # share of the noise that differs between channels
    jpeg_quality: tuple[int, int] = (25, 90)

    def __post_init__(self) -> None:
        for name in ("zoom", "exposure", "contrast", "gamma", "saturation", "blur_sigma", "noise_sigma", "jpeg_quality"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"PhotoLikeConfig.{name}: the low end {low} is above the high end {high}")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(f"jpeg_quality must lie in [1, 100], got {self.jpeg_quality}")


@dataclass
class PhotoLikeSample:
    """A photo-like image and the object's true matte in it (for measuring background removal)."""

    image: Image.Image
    mask: np.ndarray  # (H, W) bool


def _place(rgb: np.ndarray, mask: np.ndarray, scale: float, dx: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale the object about the image centre and shift it (pixels), white fill / empty mask outside."""
    if scale == 1.0 and dx == 0.0 and dy == 0.0:
        return rgb, mask.astype(np.float32)
    size = rgb.shape[0]
    c = (size - 1) / 2.0
    matrix = np.eye(2) / scale
    offset = np.array([c, c]) - matrix @ np.array([c + dy, c + dx])
    out = np.stack([ndimage.affine_transform(rgb[..., k], matrix, offset, order=1, cval=255.0) for k in range(3)], -1)
    placed = ndimage.affine_transform(mask.astype(np.float32), matrix, offset, order=1, cval=0.0)
    return out, placed


def _shadow(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A soft dark ellipse under the object's lowest pixels, in [0, 1]."""
    ys, xs = np.nonzero(alpha > 0.5)
    if len(ys) == 0:
        return np.zeros_like(alpha)
    size = alpha.shape[0]
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, bottom = (xs.min() + xs.max()) / 2.0, float(ys.max())
    rx = (xs.max() - xs.min()) / 2.0 * rng.uniform(0.9, 1.25) + 1
    ry = max(2.0, (ys.max() - ys.min()) * rng.uniform(0.06, 0.15))
    ellipse = (((grid_x - cx) / rx) ** 2 + ((grid_y - bottom) / ry) ** 2 < 1).astype(np.float32)
    return ndimage.gaussian_filter(ellipse, size / 64 * rng.uniform(1, 3)) * rng.uniform(0.3, 0.7)


def _saturate(rgb: np.ndarray, amount: float) -> np.ndarray:
    gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    return gray[..., None] + (rgb - gray[..., None]) * amount


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32)


def synthesize_photo_like(
    render: Image.Image, rng: np.random.Generator, config: PhotoLikeConfig = PhotoLikeConfig(),
    mask: np.ndarray | None = None,
) -> PhotoLikeSample:
    """A photo-like version of a white-background ``render`` (square RGB), with its true matte."""
    rgb = np.asarray(render.convert("RGB"), dtype=np.float32)
    if rgb.shape[0] != rgb.shape[1]:
        raise ValueError(f"renders are square; got {rgb.shape[1]}x{rgb.shape[0]}")
    size = rgb.shape[0]
    mask = render_mask(render) if mask is None else np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("the render shows no object (every pixel is white)")

    scale = rng.uniform(*config.zoom)
    dx, dy = rng.uniform(-config.shift, config.shift, size=2) * size
    rgb, alpha = _place(rgb, mask, scale, dx, dy)

    # the object: a light from one side, a tint
    ys, xs = np.nonzero(alpha > 0.5)
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    extent = max(1.0, float(max(np.ptp(xs), np.ptp(ys)))) if len(ys) else float(size)
    ramp = ((grid_x - xs.mean()) * np.cos(angle) + (grid_y - ys.mean()) * np.sin(angle)) / extent
    light = np.clip(1.0 + config.lighting_ramp * rng.uniform(-1, 1) * 2 * ramp, 0.4, 1.6)
    tint = 1.0 + rng.uniform(-config.tint, config.tint, size=3)
    obj = rgb * light[..., None] * tint

    # the scene
    background = random_background(size, rng, config.backgrounds)
    if rng.random() < config.shadow_probability:
        background = background * (1.0 - _shadow(alpha, rng)[..., None])
    soft = ndimage.gaussian_filter(alpha, 0.5)[..., None]
    image = obj * soft + background * (1.0 - soft)

    # the camera
    image = image * rng.uniform(*config.exposure) * (1.0 + rng.uniform(-config.white_balance, config.white_balance, 3))
    image = (image - 128.0) * rng.uniform(*config.contrast) + 128.0
    image = 255.0 * (np.clip(image, 0, 255) / 255.0) ** rng.uniform(*config.gamma)
    image = _saturate(image, rng.uniform(*config.saturation))
    if rng.random() < config.blur_probability:
        sigma = rng.uniform(*config.blur_sigma) * size / 128
        image = np.stack([ndimage.gaussian_filter(image[..., k], sigma) for k in range(3)], -1)
    sigma = rng.uniform(*config.noise_sigma)
    luminance = rng.normal(size=(size, size, 1))
    chroma = rng.normal(size=(size, size, 3))
    image = image + sigma * ((1 - config.chroma_noise) * luminance + config.chroma_noise * chroma)
    image = _jpeg(np.clip(image, 0, 255), rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
    return PhotoLikeSample(Image.fromarray(np.clip(image + 0.5, 0, 255).astype(np.uint8)), alpha > 0.5)


def make_photo_like(render: Image.Image, rng: np.random.Generator, config: PhotoLikeConfig = PhotoLikeConfig()) -> Image.Image:
    """Just the photo-like image of :func:`synthesize_photo_like`."""
    return synthesize_photo_like(render, rng, config).image


__all__ = ["PhotoLikeConfig", "PhotoLikeSample", "make_photo_like", "synthesize_photo_like"]
