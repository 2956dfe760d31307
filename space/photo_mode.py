"""Photo mode: make a real photo look like the renders the models were trained on.

``latentmapper.photo.prepare_photo`` removes the background offline (classical matting),
matches the object's colours to the category's renders and frames it like them; then, when
the pipeline carries a real-to-synthetic translator (a CycleGAN generator), it translates
the result. The shipped pipelines carry none yet: the CPU-trained translator changed
nothing measurable (see README, "Real photos"), so photo mode is the preparation alone.
"""

from __future__ import annotations

from PIL import Image

from latentmapper.photo import FRAMING_TABLES, prepare_photo

PHOTO_MODE_LABEL = "Photo mode"
PHOTO_MODE_NOTE = ("For real photos: remove the background, match colours and framing to the renders "
                   "(and translate to render style when the model has a translator). About 1 s more.")


def apply_photo_mode(pipeline, image: Image.Image) -> Image.Image:
    """The render-like image photo mode makes of ``image`` for ``pipeline``'s category."""
    category = str(getattr(pipeline.config, "category", ""))
    framed = prepare_photo(image, category=category if category in FRAMING_TABLES else None)
    return pipeline.translate([framed])[0] if pipeline.translator is not None else framed
