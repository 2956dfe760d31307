"""Input checks Gradio runs before the Space's callbacks."""

from __future__ import annotations

import gradio as gr
import PIL.Image

from latentmapper.image_io import MAX_PIXELS

NOT_AN_IMAGE = "The uploaded file is not an image this Space can read; use a PNG, JPEG or WebP picture."
TOO_LARGE = f"The uploaded image has too many pixels; the limit is {MAX_PIXELS / 1e6:.0f} megapixels."


def plain_upload_errors(image: gr.Image) -> gr.Image:
    """Make ``image``'s unreadable uploads a plain ``gr.Error``; returns the same component.

    Gradio opens an upload with PIL before the callback runs; a file that is not an image
    fails there with an internal exception, which the browser shows as a bare "Error". The
    instance's ``preprocess`` is wrapped rather than ``gr.Image`` subclassed, because Gradio
    writes a type-stub file next to the source of every component subclass it sees.
    """
    original = image.preprocess

    def preprocess(payload):
        try:
            return original(payload)
        except gr.Error:
            raise
        except PIL.Image.DecompressionBombError:  # PIL's own limit (179 MP), above the library's
            raise gr.Error(TOO_LARGE) from None
        except Exception:
            raise gr.Error(NOT_AN_IMAGE) from None

    image.preprocess = preprocess
    return image


def input_image(value: str | None = None) -> gr.Image:
    """The reconstruct tab's image input: the uploaded file itself reaches the callback.

    ``image_mode=None``: Gradio's default ("RGB") converts every upload with PIL first, which
    clips 16-bit grey to white and turns transparent pixels black; the callback instead reads
    the file as the library does (``latentmapper.image_io``: 16-bit rescaled, alpha on white,
    large images reduced), so the Space gives the library's result for the same file, and no
    upload is decoded at full size outside it. ``format="png"``: an image sent as a data URL
    is saved losslessly, 16-bit and alpha kept.
    """
    return plain_upload_errors(gr.Image(value, label="Input image", type="filepath", image_mode=None, format="png",
                                        sources=["upload", "clipboard"], height=280, elem_id="lm-input"))
