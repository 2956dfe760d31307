"""Photo mode: make a real photo look like the renders the models were trained on.

The pipeline's own photo mode (``pipe(photo, photo_mode=True)``, ``latentmapper.photo.photo_mode``)
removes the background with the pipeline's ``matting`` component (the Space gives every pipeline
the checkout's matting U-Net, ``checkpoints/photo-matting``, see ``models``), matches the
object's grey level and framing to the category's renders (``framing``), and translates the
result to render style where the pipeline carries a ``translator`` (the car pipeline does).
"""

from __future__ import annotations

PHOTO_MODE_LABEL = "Photo mode"
NO_OBJECT = ("Photo mode found no object in this image to cut out of its background. Try a photo with one "
             "object in view, or turn photo mode off for a render on a white background.")
PHOTO_MODE_NOTE = ("For real photos: remove the background, match the grey level and framing to the renders "
                   "(and translate to render style when the model has a translator). About 0.1 s more.")
