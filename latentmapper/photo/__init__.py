"""Photos in, render-like images out: background removal, framing, and the stand-in photo domain.

    from latentmapper.photo import prepare_photo
    image = prepare_photo(photo, category="car")          # offline: classical matting
    image = prepare_photo(photo, category="car", remover=load_background_remover(SHIPPED_MATTING))  # learned matting
    image = prepare_photo(photo, remover=load_background_remover("facebook/detr-resnet-50-panoptic", category="car"))
    out = pipe(image, real_to_synthetic=True)             # then the CycleGAN translator, if the pipeline has one

The encoders saw only renders (an object on white, framed by a fixed camera), so a photo is
matted, composited on white and framed the same way before anything else (paper Sec. 4:
DETR background removal, then the real-to-synthetic translator).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..image_io import ImageLike, load_image, reduce_large
from .framing import RENDER_CENTER, EmptyMatteError, FramingReference, composite_on_white, render_mask
from .colour import match_colours, match_shading
from .framing_tables import FRAMING_TABLES, RENDER_COLOURS
from .learned_matting import LearnedMatting
from .matting import ClassicalMatting
from .photo_like import PhotoLikeConfig, make_photo_like, synthesize_photo_like

BackgroundRemover = Callable[[Image.Image], np.ndarray]  # image -> (H, W) alpha in [0, 1]

# Mean longest side of the object's box over the 9 training views, both categories (0.755 car,
# 0.778 airplane; 20 shapes each, procedural_record at 128 px).
RENDER_FOREGROUND_RATIO = 0.77


# The matting U-Net that train/train_matting.py trained on the stand-in photo domain (a checkout's file).
SHIPPED_MATTING = Path(__file__).resolve().parents[2] / "checkpoints" / "photo-matting"


def load_background_remover(name_or_path: str | Path | None = None, *, category: str | None = None,
                            **kwargs) -> BackgroundRemover:
    """A background remover: the classical matting (``None`` or ``"classical"``, no weights), a
    matting U-Net (``train/train_matting.py``'s output, e.g. :data:`SHIPPED_MATTING`) or a DETR
    panoptic model, by hub id or path; which of the two is read from the checkpoint's
    ``config.json``. ``category`` picks DETR's segment; the matting U-Net is category-agnostic."""
    if name_or_path is None or str(name_or_path) == "classical":
        return ClassicalMatting(**kwargs)
    if _is_matting_unet(name_or_path, **kwargs):
        return LearnedMatting.from_pretrained(name_or_path, **kwargs)
    from .detr import DetrPanopticRemover

    return DetrPanopticRemover.from_pretrained(name_or_path, category=category, **kwargs)


def default_background_remover() -> BackgroundRemover:
    """The best remover that works offline: the shipped matting U-Net where the checkout has
    ``checkpoints/photo-matting`` (mean IoU 0.93 vs 0.79 on photo-like validation renders,
    see its model card), else the classical matting."""
    return load_background_remover(SHIPPED_MATTING if SHIPPED_MATTING.is_dir() else None)


def _is_matting_unet(name_or_path: str | Path, **hub_kwargs) -> bool:
    """Whether the checkpoint's config names diffusers' ``UNet2DModel`` (DETR's names ``model_type``)."""
    from diffusers import UNet2DModel

    folder = Path(name_or_path)
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise OSError(f"{folder} holds no config.json: not a background-removal checkpoint")
    keep = {k: hub_kwargs[k] for k in ("revision", "cache_dir", "token", "local_files_only") if k in hub_kwargs}
    try:
        config = UNet2DModel.load_config(str(name_or_path), **keep)
    except OSError:
        if folder.is_dir():  # a local config that cannot be read: say so
            raise
        return False  # offline or not a repo: let the DETR loader give its own error
    return config.get("_class_name") == "UNet2DModel"


PHOTO_OVERSAMPLING = 8  # prepare_photo works at most at 8x its output size: 1024 px for the renders' 128


def prepare_photo(
    image: ImageLike,
    foreground_ratio: float = RENDER_FOREGROUND_RATIO,
    remover: BackgroundRemover | None = None,
    *,
    category: str | None = None,
    size: int = 128,
    colours: bool = True,
) -> Image.Image:
    """Remove the background and put the object on white, centred and scaled like the renders.

    Args:
        image: a photo (PIL image, numpy array or path).
        foreground_ratio: the object's longest side over the image side (default: the renders' mean).
        remover: ``image -> alpha`` (e.g. :func:`load_background_remover`); default the offline
            classical matting.
        category: when the renders of this category have been measured (``FRAMING_TABLES``: car,
            airplane), the longest side and the centre are instead looked up among that category's
            training renders with the most similar silhouettes (a car from the front is half as
            wide as from the side); ``foreground_ratio`` is then not used. With ``colours`` the
            object is also turned grey and its grey level matched to that of those renders
            (see ``colour``; the category's overall colours when no shading was measured).
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
    if category is not None:
        if category not in FRAMING_TABLES:
            raise ValueError(f"no render framing measured for category {category!r}; known: {sorted(FRAMING_TABLES)}")
        foreground_ratio, center = FRAMING_TABLES[category].lookup(alpha)
        shading = FRAMING_TABLES[category].lookup_shading(alpha) if colours else None
        if shading is not None:
            mean = RENDER_COLOURS.get(category, ((0.0, 0.0, 0.0),))[0]
            image = match_shading(image, alpha, *shading, tint=tuple(np.subtract(mean, np.mean(mean))))
        elif colours and category in RENDER_COLOURS:
            image = match_colours(image, alpha, *RENDER_COLOURS[category])
        return composite_on_white(image, alpha, size=size, foreground_ratio=min(1.0, foreground_ratio), center=center)
    return composite_on_white(image, alpha, size=size, foreground_ratio=foreground_ratio)


__all__ = [
    "BackgroundRemover", "ClassicalMatting", "EmptyMatteError", "FRAMING_TABLES", "FramingReference", "LearnedMatting", "PhotoLikeConfig",
    "RENDER_CENTER", "SHIPPED_MATTING",
    "RENDER_COLOURS", "match_colours", "match_shading",
    "RENDER_FOREGROUND_RATIO", "composite_on_white", "default_background_remover", "load_background_remover", "make_photo_like", "prepare_photo",
    "render_mask", "synthesize_photo_like",
]
