"""Put a matted object on white, centred and scaled as the training renders show objects.

The encoders and the mapper only ever saw renders: an object on pure white, at the scale and
place a unit-sphere-normalised shape has from the fixed orbit camera. A photo's object can be
any size and anywhere, so after matting it is cut out by its alpha, rescaled and pasted on a
white square where a render would show it.

Where and how big? In 3D the renders' framing is fixed (the farthest vertex at radius 1/1.03,
the box centre at the origin), so in the image it depends on the view and the proportions: a
car's longest side is 0.51 of the image from the front and 0.95 from the side, and its box
centre moves by +-0.07 of the image between views (perspective makes the near end bigger).
One fixed ratio and centre (``foreground_ratio``, ``RENDER_CENTER``, category-free) therefore
mis-frame many views, and the mapper reads framing as shape: on 10 car test shapes x 3 views,
renders re-framed with their true scale but the fixed centre reconstruct 1.21x worse (Chamfer).

For a category whose renders were measured, :class:`FramingReference` looks the framing up:
four scale-free features of the silhouette (log aspect of its box, the share of the box it
fills, where its centroid sits in the box across and down) are matched against those of
training renders, and the nearest ones' longest side and box centre are averaged. On the 540
test renders per category the median scale error is 0.5% (car) and 1.6% (airplane), against
19% and 11% for one ratio, and the median centre error 0.3% and 0.8% of the image side,
against 3.9% and 4.7% for the fixed centre; re-framed clean car renders reconstruct as well
as the renders themselves (Chamfer 5.23 vs 5.28, 10 test shapes x 3 views).
``python -m latentmapper.photo fit-framing --dataset data/car data/airplane --out DIR`` measures the
errors and saves each category's reference (``framing_reference.FramingReference``, a pipeline's
``framing`` component).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

# Mean centre of the object's box (x, y) in the 128 px renders, as fractions of the image side.
RENDER_CENTER = (0.51, 0.56)
# Grey level of an RGB pixel (Rec. 601 luma).
LUMA = np.array([0.299, 0.587, 0.114])
# How much each silhouette feature counts in the neighbour distance (aspect, fill, centroid x, centroid y).
FEATURE_WEIGHTS = (1.0, 3.0, 10.0, 10.0)


class EmptyMatteError(ValueError):
    """The background remover kept nothing: the image shows no object to frame (a user's input, not a bug)."""

    def __init__(self, message: str = "the matte is empty: no object was found in the image") -> None:
        super().__init__(message)


def render_mask(render: Image.Image | np.ndarray, white_level: int = 255) -> np.ndarray:
    """(H, W) bool object mask of a render on pure white: any channel below ``white_level``, holes filled.

    Holes are filled because a white part of an object lit head-on can reach 255 as well.
    """
    pixels = np.asarray(render.convert("RGB") if isinstance(render, Image.Image) else render)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an RGB image, got an array of shape {pixels.shape}")
    return ndimage.binary_fill_holes((pixels < white_level).any(axis=-1))


def object_box(alpha: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the pixels with alpha above ``threshold``, right/bottom exclusive."""
    ys, xs = np.nonzero(np.asarray(alpha) > threshold)
    if len(ys) == 0:
        raise EmptyMatteError()
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def silhouette_features(alpha: np.ndarray) -> np.ndarray:
    """Scale-free features of a silhouette: log(width / height) of its box, the share of the box it
    fills, and its centroid's offset from the box centre across and down (fractions of the box)."""
    mask = np.asarray(alpha) > 0.5
    left, top, right, bottom = object_box(mask)
    width, height = right - left, bottom - top
    ys, xs = np.nonzero(mask)
    return np.array([np.log(width / height), mask.sum() / (width * height),
                     (xs.mean() + 0.5 - (left + right) / 2) / width, (ys.mean() + 0.5 - (top + bottom) / 2) / height])


def render_framing(mask: np.ndarray) -> np.ndarray:
    """(log longest side, box centre x, box centre y) of a render's silhouette, as fractions of the side."""
    left, top, right, bottom = object_box(mask)
    side = mask.shape[0]
    return np.array([np.log(max(right - left, bottom - top) / side), (left + right) / 2 / side, (top + bottom) / 2 / side])


def render_shading(render: Image.Image | np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(mean, std) of the grey level (Rec. 601 luma) of a render's object pixels."""
    grey = np.asarray(render.convert("RGB") if isinstance(render, Image.Image) else render, np.float64) @ LUMA
    return np.array([grey[mask].mean(), grey[mask].std()])


def composite_on_white(
    image: Image.Image,
    alpha: np.ndarray,
    *,
    size: int = 128,
    foreground_ratio: float = 0.77,
    center: tuple[float, float] = RENDER_CENTER,
) -> Image.Image:
    """``image`` matted by ``alpha`` (H, W in [0, 1]) onto a white ``size`` square, object framed like a render:
    the longest side of its box ``foreground_ratio * size``, the box centre at ``center`` (fractions of the side)."""
    if not 0.05 <= foreground_ratio <= 1.0:
        raise ValueError(f"foreground_ratio must be in [0.05, 1], got {foreground_ratio}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    alpha = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)
    if alpha.shape != rgb.shape[:2]:
        raise ValueError(f"alpha is {alpha.shape} but the image is {rgb.shape[:2]}")
    left, top, right, bottom = object_box(alpha)
    scale = foreground_ratio * size / max(right - left, bottom - top)

    on_white = rgb * alpha[..., None] + 255.0 * (1.0 - alpha[..., None])  # unmatted pixels already white
    crop = Image.fromarray(np.clip(on_white[top:bottom, left:right] + 0.5, 0, 255).astype(np.uint8))
    crop_alpha = Image.fromarray((alpha[top:bottom, left:right] * 255 + 0.5).astype(np.uint8))
    width, height = max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale))
    crop = crop.resize((width, height), Image.LANCZOS)
    crop_alpha = crop_alpha.resize((width, height), Image.LANCZOS)

    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    x0 = round(center[0] * size - width / 2)
    y0 = round(center[1] * size - height / 2)
    x0 = min(max(x0, min(0, size - width)), max(0, size - width))  # keep the object inside where it fits
    y0 = min(max(y0, min(0, size - height)), max(0, size - height))
    canvas.paste(crop, (x0, y0), crop_alpha)
    return canvas


__all__ = ["FEATURE_WEIGHTS", "RENDER_CENTER", "composite_on_white", "object_box", "render_framing", "render_mask",
           "render_shading", "silhouette_features"]
