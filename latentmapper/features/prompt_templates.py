"""The 74 prompt templates of the paper (Appendix C, Table C1), CLIP's ImageNet style.

Used to augment captions when training the CLIP encoder and to embed a category name for
filtering photo collections. ``{}`` marks where the object text goes.
"""

from __future__ import annotations

PROMPT_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.",
    "a rendering of a {}.", "graffiti of a {}.",
    "a bad photo of the {}.", "a cropped photo of the {}.",
    "a photo of a hard to see {}.", "a bright photo of a {}.",
    "a photo of a clean {}.", "a photo of a dirty {}.",
    "a dark photo of the {}.", "a drawing of a {}.",
    "a photo of my {}.", "the plastic {}.",
    "a photo of the cool {}.", "a close-up photo of a {}.",
    "a painting of the {}.", "a painting of a {}.",
    "a pixelated photo of the {}.", "a sculpture of the {}.",
    "a bright photo of the {}.", "a cropped photo of a {}.",
    "a plastic {}.", "a photo of the dirty {}.",
    "a blurry photo of the {}.", "a photo of the {}.",
    "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.",
    "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the {} in a video game.",
    "a sketch of a {}.", "a face of the {}.",
    "a doodle of the {}.", "a low resolution photo of a {}.",
    "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.",
    "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.",
    "a cartoon {}.", "art of a {}.",
    "a sketch of the {}.", "a pixelated photo of a {}.",
    "itap of the {}.", "a good photo of a {}.",
    "a plushie {}.", "a photo of the nice {}.",
    "a photo of the small {}.", "a photo of the weird {}.",
    "the cartoon {}.", "art of the {}.",
    "a drawing of the {}.", "a photo of the large {}.",
    "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.",
    "a toy {}.", "itap of my {}.",
    "a photo of a cool {}.", "a photo of a small {}.",
    "a 3d object of the {}.", "a 3d object of a {}.",
    "a 3d face of a {}.", "a 3d face of the {}.",
)
assert len(PROMPT_TEMPLATES) == 74


def fill_templates(text: str, templates: tuple[str, ...] = PROMPT_TEMPLATES) -> list[str]:
    """Every template with ``text`` (e.g. "car") put in its place."""
    if not text.strip():
        raise ValueError("the text to put in the prompt templates is empty")
    return [template.format(text.strip()) for template in templates]


def strip_article(caption: str) -> str:
    """'a red pickup truck ...' -> 'red pickup truck ...', so a caption can fill a template."""
    for article in ("a ", "an ", "the "):
        if caption.lower().startswith(article):
            return caption[len(article):]
    return caption
