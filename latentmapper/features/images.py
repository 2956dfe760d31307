"""Accept the image forms users pass (one PIL image, a list, numpy arrays) as one RGB list.

Both feature extractors hand the list to a transformers image processor, which resizes,
crops and normalises exactly as the checkpoint expects.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
from PIL import Image

ImageInput = Union[Image.Image, np.ndarray, Sequence[Union[Image.Image, np.ndarray]]]


def as_rgb_list(images: ImageInput) -> list[Image.Image]:
    """One image or a sequence of images (PIL or HxWx3 uint8 arrays) as a list of RGB PIL images."""
    if isinstance(images, (Image.Image, np.ndarray)) and not (isinstance(images, np.ndarray) and images.ndim == 4):
        images = [images]
    out = []
    for image in images:
        if isinstance(image, np.ndarray):
            image = Image.fromarray(np.asarray(image, dtype=np.uint8))
        if not isinstance(image, Image.Image):
            raise TypeError(f"expected PIL images or HxWx3 uint8 arrays, got {type(image).__name__}")
        out.append(image.convert("RGB"))
    if not out:
        raise ValueError("no images given")
    return out
