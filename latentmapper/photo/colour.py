"""Match an object's colours to the renders' (per-channel mean and spread of the object's pixels).

The shipped encoders were trained on renders only, and they read colour: on 6 car test shapes
x 3 views, object lighting and tint, or camera exposure / white balance / contrast / gamma /
saturation shifts (the ``photo_like`` ranges) each raise the Chamfer by ~50%, while blur,
sensor noise and JPEG change it by under 2% (objects matted on white, 96^3 meshes). A photo's
colours say little about the shape anyway, so photo mode maps the matted object's per-channel
statistics onto those of the category's renders (``RENDER_COLOURS``, measured by
``python -m latentmapper.photo fit-framing``), as colour transfer by moment matching does.
Same test: degraded 10.2 -> 7.1 after matching; a clean render pays 5.5 -> 6.7 for it.

That price comes from the view: the renders' grey level moves with it (car object mean 125-161,
std 20-34 between the 2nd and 98th percentile of training renders), and the encoders read it.
So where the category's reference holds the shading of its renders, photo mode
(:func:`match_shading`) turns the object grey and matches its grey level to that of renders
with the most similar silhouettes instead. On 10 validation cars x 3 views (shipped car
pipeline): clean renders through photo mode 1.22x -> 1.01x their Chamfer; photo-like images
1.53x -> 1.40x.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .framing import LUMA, EmptyMatteError


def _moment_matched(values: np.ndarray, alpha: np.ndarray, mean, std) -> np.ndarray:
    """``values`` (H, W) or (H, W, C) shifted and scaled so the object's (alpha > 0.5) have ``mean``/``std``."""
    inside = np.asarray(alpha) > 0.5
    if not inside.any():
        raise EmptyMatteError()
    pixels = values[inside]
    return (values - pixels.mean(0)) / np.maximum(pixels.std(0), 1.0) * np.asarray(std) + np.asarray(mean)


def _to_image(values: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(values + 0.5, 0, 255).astype(np.uint8))


def match_colours(image: Image.Image, alpha: np.ndarray, mean, std) -> Image.Image:
    """``image`` with its object's pixels (alpha > 0.5) shifted and scaled per channel to ``mean``/``std``."""
    return _to_image(_moment_matched(np.asarray(image.convert("RGB"), dtype=np.float64), alpha, mean, std))


def match_shading(image: Image.Image, alpha: np.ndarray, mean: float, std: float,
                  tint: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Image.Image:
    """``image`` in grey, its object's grey level (alpha > 0.5) shifted and scaled to ``mean``/``std``,
    plus ``tint`` per channel (the renders' slight colour cast)."""
    grey = np.asarray(image.convert("RGB"), dtype=np.float64) @ LUMA
    return _to_image(_moment_matched(grey, alpha, mean, std)[..., None] + np.asarray(tint))


def object_colour_statistics(images, masks) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of the object pixels of renders (with their masks)."""
    pixels = np.concatenate([np.asarray(im.convert("RGB"), np.float64)[m] for im, m in zip(images, masks)])
    return tuple(round(float(v), 2) for v in pixels.mean(0)), tuple(round(float(v), 2) for v in pixels.std(0))


__all__ = ["match_colours", "match_shading", "object_colour_statistics"]
