"""Kept for pipeline folders saved before the codebook moved to ``latentmapper.features.codebook``.

Their ``model_index.json`` names ``latentmapper.models.codebook.KeyCodebook``. Diffusers loads
such a component from this module (``latentmapper.models`` imports it for that) and finds the
loading method by looking up the base class, ``ModelMixin``, in the module itself.
"""

from diffusers import ModelMixin

from ..features.codebook import KeyCodebook

__all__ = ["KeyCodebook", "ModelMixin"]
