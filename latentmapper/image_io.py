"""Turn whatever image a user passes into the RGB PIL images the feature extractors expect.

Accepted: PIL images of any mode, numpy arrays (HxW, HxWx1/3/4; uint8, uint16, bool, or
float in [0, 1]; a 4-D array is a batch), and file paths; one of them or a list.

Why each conversion: the encoders were trained on RGB renders on a white background, so
transparency is composited on white rather than dropped (dropping it leaves whatever colour
the transparent pixels happen to hold, often black); 16-bit images are rescaled rather than
clipped (PIL's own ``convert("L")`` clips, turning most 16-bit photos white); photos are
turned upright from their EXIF orientation, as every viewer shows them.

Every problem raises one error naming the input and the reason: ``FileNotFoundError`` for a
missing path, :class:`InvalidImageError` (a ``ValueError``) for everything else. Sizes are
checked from the file header, before decoding, so a decompression bomb costs nothing.

Large images are made small before anything else (``MAX_SIDE``): the encoders see 224 px
and photo mode's matting 128 px, while the image processors turn their input into float32
arrays, 0.6 GB for a 7000x7000 photo (one request peaked at 1.9 GB, photo mode at 5 GB).
A JPEG is decoded at a reduced scale (Pillow's ``draft``); other formats are decoded, then
reduced by an integer factor (Pillow's ``reduce``: box averaging, on premultiplied alpha)
before any conversion, so the only full-size copy is the decoded file itself.
"""

from __future__ import annotations

import errno
import math
import os
import warnings
from pathlib import Path
from typing import Sequence, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 16
MAX_PIXELS = 50_000_000
# Longest side an image is decoded or reduced to: above 9x the encoders' 224 px (and 16x photo
# mode's 128 px), so their own resizing still sees a well-sampled picture, while a float32 RGB
# copy of it is 50 MB rather than the 0.6 GB of a 7000x7000 one.
MAX_SIDE = 2048

ImageLike = Union[Image.Image, np.ndarray, str, os.PathLike]
ImageBatch = Union[ImageLike, Sequence[ImageLike]]


class InvalidImageError(ValueError):
    """An input that cannot serve as an image; the message names the input and the reason."""


def check_size(width: int, height: int, name: str) -> None:
    """Refuse images under ``MIN_SIDE`` pixels a side or over ``MAX_PIXELS`` pixels."""
    if min(width, height) < MIN_SIDE:
        raise InvalidImageError(
            f"{name} is {width}x{height} pixels; images must be at least {MIN_SIDE} pixels on each side"
        )
    if width * height > MAX_PIXELS:
        raise InvalidImageError(
            f"{name} is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels"
        )


# ---- PIL images ---------------------------------------------------------------------------
def reduction_factor(width: int, height: int, max_side: int = MAX_SIDE) -> int:
    """The integer factor that brings the longest side to ``max_side`` or less (1: keep the size); never
    so large that the shortest side falls under ``MIN_SIDE``."""
    return max(1, min(math.ceil(max(width, height) / max_side), min(width, height) // MIN_SIDE))


def reduce_large(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """``image`` with its longest side at most ``max_side``, by Pillow's ``reduce`` (box averaging of
    premultiplied colours, so transparent pixels do not darken the edges); small images unchanged."""
    factor = reduction_factor(*image.size, max_side)
    if factor == 1:
        return image
    if image.mode.startswith("I;16"):  # reduce works in 32-bit "I"; back to 16-bit keeps its rescaling
        return image.convert("I").reduce(factor).convert("I;16")
    if image.mode in ("1", "P"):  # no box averaging of bits or palette indices
        image = image.convert("L" if image.mode == "1" else "RGBA" if "transparency" in image.info else "RGB")
    return image.reduce(factor)


def _rescale_to_uint8(values: np.ndarray, full_scale: float) -> Image.Image:
    scaled = np.clip(np.rint(values.astype(np.float64) * (255.0 / full_scale)), 0, 255)
    return Image.fromarray(scaled.astype(np.uint8))


def _wide_gray_to_l(image: Image.Image) -> Image.Image:
    """16-bit ("I;16*"), 32-bit integer ("I") and float ("F") grayscale to 8-bit, rescaled."""
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        return _rescale_to_uint8(values, 65535.0)
    top = float(np.nanmax(values)) if values.size else 0.0
    if image.mode == "F":  # float images: [0, 1] or [0, 255]
        return _rescale_to_uint8(values, 1.0 if top <= 1.0 else 255.0)
    # "I" is what 16-bit files decode to in some formats; 8-bit data in it stays as it is.
    return _rescale_to_uint8(values, 255.0 if top <= 255 else 65535.0)


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def to_rgb(image: Image.Image, name: str = "image") -> Image.Image:
    """Any PIL image -> upright RGB: EXIF orientation applied, transparency on white, 16-bit rescaled."""
    check_size(*image.size, name)
    image = reduce_large(image)
    try:
        image = ImageOps.exif_transpose(image) or image
    except Exception:  # a malformed EXIF block should not make a readable image unusable
        pass
    if image.mode.startswith("I") or image.mode == "F":
        image = _wide_gray_to_l(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        return _on_white(image)
    return image if image.mode == "RGB" else image.convert("RGB")


# ---- numpy arrays ---------------------------------------------------------------------------
def _array_to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return np.rint(array / 257.0).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if array.size and not np.isfinite(array).all():
            raise InvalidImageError(f"{name} holds NaN or infinite values")
        lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if lo < 0.0 or hi > 1.0:
            raise InvalidImageError(
                f"{name} is a float array with values in [{lo:.3g}, {hi:.3g}]; float images must lie in [0, 1] "
                "(pass uint8 for 0-255 values)"
            )
        return np.rint(array * 255.0).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
        if lo < 0 or hi > 255:
            raise InvalidImageError(
                f"{name} is a {array.dtype} array with values in [{lo}, {hi}]; integer images other than "
                "uint16 must lie in [0, 255]"
            )
        return array.astype(np.uint8)
    raise InvalidImageError(f"{name} has dtype {array.dtype}; use uint8, uint16, bool or float in [0, 1]")


def array_to_rgb(array: np.ndarray, name: str = "array") -> Image.Image:
    """HxW or HxWx{1,3,4} array -> RGB PIL image (4 channels: RGBA, composited on white)."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        hint = " (channel-first? transpose it to HxWxC)" if array.ndim == 3 and array.shape[0] in (1, 3, 4) else ""
        raise InvalidImageError(
            f"{name} has shape {tuple(array.shape)}; expected HxW or HxWxC with C in 1, 3, 4{hint}"
        )
    check_size(array.shape[1], array.shape[0], name)
    pixels = np.ascontiguousarray(_array_to_uint8(np.asarray(array), name))
    return to_rgb(Image.fromarray(pixels), name)


# ---- files ----------------------------------------------------------------------------------
def open_image(path: str | os.PathLike) -> Image.Image:
    """Read an image file as upright RGB; refuses oversized files from their header, before decoding."""
    path = Path(path)
    name = f"image file {str(path)!r}"
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "image file not found", str(path))
    if path.is_dir():
        raise InvalidImageError(f"{str(path)!r} is a directory, not an image file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is lower
        try:
            with Image.open(path) as image:
                check_size(*image.size, name)
                _draft(image)
                image.load()
                rgb = to_rgb(image, name)
                return image.copy() if rgb is image else rgb  # the file's image is closed on return
        except Image.DecompressionBombError as err:
            raise InvalidImageError(f"{name} is over {MAX_PIXELS / 1e6:.0f} megapixels ({err})") from None
        except UnidentifiedImageError:
            raise InvalidImageError(f"{name} is not an image file (PIL cannot identify its format)") from None
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            if isinstance(err, InvalidImageError):
                raise
            raise InvalidImageError(f"{name} is corrupted or truncated and cannot be decoded ({err})") from None


def _draft(image: Image.Image) -> None:
    """Have a JPEG decoded at the smallest scale (1/2, 1/4, 1/8) that keeps its longest side at least
    ``MAX_SIDE``, so that a large photo is never decoded at full size; other formats ignore it."""
    width, height = image.size
    if image.format == "JPEG" and max(width, height) > MAX_SIDE:
        scale = MAX_SIDE / max(width, height)
        image.draft(image.mode, (max(MIN_SIDE, math.ceil(width * scale)), max(MIN_SIDE, math.ceil(height * scale))))


# ---- one entry point ----------------------------------------------------------------------------
def load_image(image: ImageLike, name: str | None = None) -> Image.Image:
    """One PIL image, numpy array or path -> RGB PIL image (see the module doc)."""
    if isinstance(image, (str, os.PathLike)):
        return open_image(image)
    if isinstance(image, Image.Image):
        return to_rgb(image, name or f"PIL image ({image.mode})")
    if isinstance(image, np.ndarray):
        return array_to_rgb(image, name or f"array of shape {tuple(image.shape)}")
    raise InvalidImageError(
        f"{name or 'input'} is a {type(image).__name__}; pass a PIL image, a numpy array or an image file path"
    )


def is_single_image(images: object) -> bool:
    """A single image (as opposed to a batch): a path, a PIL image, or an array of at most 3 dimensions."""
    if isinstance(images, np.ndarray):
        return images.ndim <= 3
    return isinstance(images, (str, os.PathLike, Image.Image))


def load_images(images: ImageBatch) -> list[Image.Image]:
    """One image or a batch (a sequence, or an NxHxWxC array) -> a non-empty list of RGB PIL images."""
    if is_single_image(images):
        return [load_image(images)]
    if isinstance(images, np.ndarray) and images.ndim == 4:
        items = list(images)
    elif isinstance(images, (list, tuple)):
        items = list(images)
    else:
        raise InvalidImageError(
            f"expected an image or a list of images, got {type(images).__name__}"
        )
    if not items:
        raise InvalidImageError("no images given: the batch is empty")
    return [load_image(item, None if isinstance(item, (str, os.PathLike)) else f"image {i} ({_describe(item)})")
            for i, item in enumerate(items)]


def _describe(item: object) -> str:
    if isinstance(item, np.ndarray):
        return f"array {tuple(item.shape)} {item.dtype}"
    if isinstance(item, Image.Image):
        return f"PIL {item.mode} {item.size[0]}x{item.size[1]}"
    return type(item).__name__


__all__ = [
    "MAX_PIXELS", "MAX_SIDE", "MIN_SIDE", "ImageBatch", "ImageLike", "InvalidImageError", "array_to_rgb", "check_size",
    "is_single_image", "load_image", "load_images", "open_image", "reduce_large", "reduction_factor", "to_rgb",
]
