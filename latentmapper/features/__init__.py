"""Image features for the mapper: CLIP embeddings, ViT keys of every layer, bag of descriptors.

Extractors are transformers models loaded by hub id or local path, so any CLIP / ViT / DINO /
DINOv2 checkpoint works; the offline defaults are trained by ``train/train_encoders.py``.
"""

from .bag_of_descriptors import bag_length, bag_of_descriptors
from .clip import ClipEmbedder, load_clip_vision
from .images import as_rgb_list
from .mapper_inputs import mapper_features
from .vit_keys import KeyCapture, ViTKeyExtractor, ViTKeys, capture_keys, find_key_projections, load_vit

__all__ = [
    "ClipEmbedder", "KeyCapture", "ViTKeyExtractor", "ViTKeys", "as_rgb_list", "bag_length",
    "bag_of_descriptors", "capture_keys", "find_key_projections", "load_clip_vision", "load_vit", "mapper_features",
]
