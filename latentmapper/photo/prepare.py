"""One photo -> a render-like image: matted, composited on white, framed and shaded like the renders.

The encoders saw only renders (an object on white, framed by a fixed camera), so a photo is
matted, composited on white and framed the same way before anything else (paper Sec. 4:
background removal, then the real-to-synthetic translator, see ``photo_mode``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..image_io import ImageLike, load_image, reduce_large
from .colour import match_colours, match_shading
from .framing import composite_on_white
from .framing_reference import FramingReference
from .matting import ClassicalMatting
from .removers import BackgroundRemover

# Mean longest side of the object's box over the 9 training views, both categories (0.755 car,
# 0.778 airplane; 20 shapes each, procedural_record at 128 px).
RENDER_FOREGROUND_RATIO = 0.77
PHOTO_OVERSAMPLING = 8  # prepare_photo works at most at 8x its output size: 1024 px for the renders' 128


def prepare_photo(
    image: ImageLike,
    foreground_ratio: float = RENDER_FOREGROUND_RATIO,
    remover: BackgroundRemover | None = None,
    *,
    framing: FramingReference | None = None,
    size: int = 128,
    colours: bool = True,
) -> Image.Image:
    """Remove the background and put the object on white, centred and scaled like the renders.

    Args:
        image: a photo (PIL image, numpy array or path).
        foreground_ratio: the object's longest side over the image side (default: the renders' mean).
        remover: ``image -> alpha`` (e.g. ``load_background_remover``); default the offline
            classical matting.
        framing: a category's render statistics (a pipeline's ``framing`` component): the longest
            side and the centre are then looked up among that category's training renders with
            the most similar silhouettes (a car from the front is half as wide as from the side),
            and ``foreground_ratio`` is not used. With ``colours`` the object is also turned grey
            and its grey level matched to that of those renders (see ``colour``; the category's
            overall colours when no shading was measured).
        size: side of the square output in pixels (the renders are 128).

    A photo larger than ``PHOTO_OVERSAMPLING`` times ``size`` is first reduced to that (and the
    remover gets the reduced image): the output is ``size`` pixels, and every step works on float
    copies of the whole photo (a 7000x7000 photo took 5 GB).
    """
    image = reduce_large(load_image(image), PHOTO_OVERSAMPLING * size)
    remover = remover if remover is not None else ClassicalMatting()
    alpha = np.asarray(remover(image), dtype=np.float32)
    if alpha.shape != (image.height, image.width):
        raise ValueError(f"the background remover returned a matte of shape {alpha.shape} for a "
                         f"{image.width}x{image.height} image")
    if framing is None:
        return composite_on_white(image, alpha, size=size, foreground_ratio=foreground_ratio)
    foreground_ratio, center = framing.lookup(alpha)
    shading = framing.lookup_shading(alpha) if colours else None
    if shading is not None:
        mean = framing.colours[0] if framing.colours is not None else (0.0, 0.0, 0.0)
        image = match_shading(image, alpha, *shading, tint=tuple(np.subtract(mean, np.mean(mean))))
    elif colours and framing.colours is not None:
        image = match_colours(image, alpha, *framing.colours)
    return composite_on_white(image, alpha, size=size, foreground_ratio=min(1.0, foreground_ratio), center=center)


__all__ = ["PHOTO_OVERSAMPLING", "RENDER_FOREGROUND_RATIO", "prepare_photo"]
