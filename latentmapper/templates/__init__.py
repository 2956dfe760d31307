"""The model and dataset card templates (Jinja, huggingface_hub's card format), shipped as package data.

They live inside the package, not beside it, so that a wheel install writes the same cards as a
checkout; ``template_path`` is the one way the library finds them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

TEMPLATES = ("model_card.md", "goembed_model_card.md", "dataset_card.md")


def template_path(name: str) -> Path:
    """The file of the shipped template ``name`` (one of ``TEMPLATES``)."""
    if name not in TEMPLATES:
        raise ValueError(f"no card template {name!r}; shipped: {', '.join(TEMPLATES)}")
    path = Path(str(resources.files(__name__) / name))
    if not path.is_file():  # a broken install: say so rather than write a generic card
        raise FileNotFoundError(f"the card template {path} is missing from the installed package")
    return path


__all__ = ["TEMPLATES", "template_path"]
