"""Photo mode: background removal and real-to-synthetic translation before reconstruction.

The models are trained on clean renders on white; photo mode turns a real photo into one
(``latentmapper.photo``, being built). Until it lands the UI shows the control disabled and
the callback refuses it. Enabling it is one line: set ``PHOTO_PREPROCESS`` to a function
``(pipeline, PIL image) -> render-like PIL image``, for example one that calls
``latentmapper.photo.prepare_photo(image, category=pipeline.config.category)`` and then, when
the pipeline has a translator, ``pipeline.translate([framed])[0]``. The label, the note, the
control's ``interactive`` flag and the callback all follow from it.
"""

from __future__ import annotations

from typing import Callable

from PIL import Image

PhotoPreprocess = Callable[[object, Image.Image], Image.Image]

PHOTO_PREPROCESS: PhotoPreprocess | None = None

_WHAT = "Background removal + real-to-synthetic translation, for real photos."
PHOTO_MODE_LABEL = "Photo mode" if PHOTO_PREPROCESS is not None else "Photo mode (coming soon)"
PHOTO_MODE_NOTE = _WHAT if PHOTO_PREPROCESS is not None else (
    f"{_WHAT} Until it is here, use images like the examples: one object on a white background.")


def photo_mode_available() -> bool:
    return PHOTO_PREPROCESS is not None


def apply_photo_mode(pipeline, image: Image.Image) -> Image.Image:
    """The render-like image photo mode makes of ``image`` (callers check ``photo_mode_available`` first)."""
    if PHOTO_PREPROCESS is None:
        raise RuntimeError("photo mode is not available yet")
    return PHOTO_PREPROCESS(pipeline, image)
