"""The pipelines, as diffusers keeps sibling pipelines: two ways to a DIT latent on one base.

``LatentMapperPipeline`` maps one image to a latent (CLIP and ViT-key features, autoencoder,
mapper); ``GOEmbedPipeline`` encodes posed views of one object. Both mesh the latent, load,
save and write their model cards through ``base.LatentMeshPipeline``; ``pipeline_files``
checks a saved folder before loading and ``model_card`` fills the cards' templates.
"""

from .base import MAX_RESOLUTION, OUTPUT_TYPES, LatentMeshPipeline, MeshPipelineOutput, check_resolution
from .pipeline_files import PipelineLoadError
from .pipeline_goembed import GOEmbedPipeline, GOEmbedPipelineOutput
from .pipeline_latentmapper import LatentMapperPipeline, LatentMapperPipelineOutput

__all__ = [
    "MAX_RESOLUTION", "OUTPUT_TYPES", "GOEmbedPipeline", "GOEmbedPipelineOutput", "LatentMapperPipeline",
    "LatentMapperPipelineOutput", "LatentMeshPipeline", "MeshPipelineOutput", "PipelineLoadError",
    "check_resolution",
]
