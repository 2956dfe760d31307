"""Input checks Gradio runs before the Space's callbacks."""

from __future__ import annotations

import gradio as gr

NOT_AN_IMAGE = "The uploaded file is not an image this Space can read; use a PNG, JPEG or WebP picture."


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
        except Exception:
            raise gr.Error(NOT_AN_IMAGE) from None

    image.preprocess = preprocess
    return image
