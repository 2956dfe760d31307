"""Photo mode: make a real photo look like the renders the models were trained on.

The pipeline's own photo mode (``pipe(photo, photo_mode=True)``, ``latentmapper.photo.photo_mode``)
removes the background with the pipeline's ``matting`` component (the Space gives every pipeline
the checkout's matting U-Net, ``checkpoints/photo-matting``, see ``models``), matches the
object's grey level and framing to the category's renders (``framing``), and translates the
result to render style where the pipeline carries a ``translator`` (the car pipeline does).
"""

from __future__ import annotations

import gradio as gr
from PIL import Image

from latentmapper.photo import EmptyMatteError

PHOTO_MODE_LABEL = "Photo mode"
NO_OBJECT = ("Photo mode found no object in this image to cut out of its background. Try a photo with one "
             "object in view, or turn photo mode off for a render on a white background.")
PHOTO_MODE_NOTE = ("For real photos: remove the background, match the grey level and framing to the renders "
                   "(and translate to render style when the model has a translator). About 0.1 s more.")


def apply_photo_mode(pipeline, image: Image.Image) -> Image.Image:
    """The render-like image the pipeline's photo mode makes of ``image``; an image with no object is a
    plain ``gr.Error`` (the user's input, like any other unusable image)."""
    try:
        return pipeline.prepare_images(image, photo_mode=True)[0]
    except EmptyMatteError:
        raise gr.Error(NO_OBJECT) from None
