"""The mapper's two inputs for a batch of images, computed as ``train/precompute_features.py`` caches them.

The mapper only works on features made the way its training features were: the unit-norm
CLIP image embedding (``ClipEmbedder.embed_images``) and the bag of descriptors of the
ViT's patch keys (``ViTKeyExtractor`` then ``KeyCodebook.bag``). Inference goes through
this one function so that it cannot drift from the training recipe.
"""

from __future__ import annotations

import torch

from ..image_io import ImageBatch, load_images
from .clip import ClipEmbedder
from .codebook import KeyCodebook
from .vit_keys import ViTKeyExtractor


@torch.no_grad()
def mapper_features(
    clip: ClipEmbedder, extractor: ViTKeyExtractor, codebook: KeyCodebook, images: ImageBatch
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images -> (CLIP embeddings (B, D), bag-of-descriptors vectors (B, bag_length)), float32."""
    images = load_images(images)  # once, for both extractors
    embeddings = clip.embed_images(images)
    keys = extractor(images)
    return embeddings, codebook.bag(keys.keys, keys.grid)


__all__ = ["mapper_features"]
