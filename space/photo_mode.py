"""Photo mode: make a real photo look like the renders the models were trained on.

``latentmapper.photo.prepare_photo`` removes the background with the shipped matting U-Net
(``checkpoints/photo-matting``; the classical matting where a checkout lacks it), matches
the object's grey level and framing to the category's renders; then, when the pipeline
carries a real-to-synthetic translator (a CycleGAN generator), it translates the result.
The shipped pipelines carry none: the CPU-trained translator changed nothing measurable
(see README, "Real photos"), so photo mode is the preparation alone.
"""

from __future__ import annotations

import functools

import gradio as gr
from PIL import Image

from latentmapper.photo import FRAMING_TABLES, BackgroundRemover, EmptyMatteError, default_background_remover, prepare_photo

PHOTO_MODE_LABEL = "Photo mode"
NO_OBJECT = ("Photo mode found no object in this image to cut out of its background. Try a photo with one "
             "object in view, or turn photo mode off for a render on a white background.")
PHOTO_MODE_NOTE = ("For real photos: remove the background, match the grey level and framing to the renders "
                   "(and translate to render style when the model has a translator). About 0.1 s more.")


@functools.lru_cache(maxsize=1)
def background_remover() -> BackgroundRemover:
    """The Space's remover, loaded once: the shipped matting U-Net, else the classical matting."""
    return default_background_remover()


def apply_photo_mode(pipeline, image: Image.Image) -> Image.Image:
    """The render-like image photo mode makes of ``image`` for ``pipeline``'s category; an image with no
    object is a plain ``gr.Error`` (the user's input, like any other unusable image)."""
    category = str(getattr(pipeline.config, "category", ""))
    try:
        framed = prepare_photo(image, remover=background_remover(),
                               category=category if category in FRAMING_TABLES else None)
    except EmptyMatteError:
        raise gr.Error(NO_OBJECT) from None
    return pipeline.translate([framed])[0] if pipeline.translator is not None else framed
