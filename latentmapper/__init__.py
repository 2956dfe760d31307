"""LatentMapper: single-view 3D reconstruction into the latent space of Deep Implicit Templates.

``LatentMapperPipeline`` (and its output class) are imported on first use: the pipeline
pulls in diffusers and transformers, which take seconds to import, and commands such as
``latentmapper data`` need neither.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "LatentMapperPipeline": "latentmapper.pipelines",
    "LatentMapperPipelineOutput": "latentmapper.pipelines",
    "GOEmbedPipeline": "latentmapper.pipelines",
}

__all__ = ["GOEmbedPipeline", "LatentMapperPipeline", "LatentMapperPipelineOutput", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'latentmapper' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
