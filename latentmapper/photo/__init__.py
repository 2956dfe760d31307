"""Photos in, render-like images out: background removal, framing, and the stand-in photo domain.

    out = pipe("photo.jpg", photo_mode=True)     # matte -> frame (+ grey level) -> translate -> map

    from latentmapper.photo import prepare_photo, load_background_remover
    image = prepare_photo(photo, framing=pipe.framing)     # one step: classical matting, the category's framing
    image = prepare_photo(photo, remover=load_background_remover("checkpoints/photo-matting"))  # a matting U-Net

The encoders saw only renders (an object on white, framed by a fixed camera), so a photo is
matted, composited on white and framed the same way before anything else (paper Sec. 4:
background removal, then the real-to-synthetic translator). ``photo_mode`` chains the steps
from a pipeline's optional components (``framing``, ``matting``, ``translator``).
"""

from __future__ import annotations

from .colour import match_colours, match_shading
from .framing import RENDER_CENTER, EmptyMatteError, composite_on_white, render_mask
from .framing_reference import FramingReference
from .learned_matting import LearnedMatting
from .matting import ClassicalMatting
from .photo_like import PhotoLikeConfig, make_photo_like, synthesize_photo_like
from .photo_mode import matting_remover, photo_mode, translate_to_renders
from .prepare import RENDER_FOREGROUND_RATIO, prepare_photo
from .removers import BackgroundRemover, load_background_remover

__all__ = [
    "BackgroundRemover", "ClassicalMatting", "EmptyMatteError", "FramingReference", "LearnedMatting", "PhotoLikeConfig",
    "RENDER_CENTER", "RENDER_FOREGROUND_RATIO", "composite_on_white", "load_background_remover", "make_photo_like",
    "match_colours", "match_shading", "matting_remover", "photo_mode", "prepare_photo", "render_mask",
    "synthesize_photo_like", "translate_to_renders",
]
