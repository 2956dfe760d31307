"""Image features for the mapper: CLIP embeddings, ViT keys of every layer, their codebook, bag of descriptors.

Extractors are transformers models loaded by hub id or local path, so any CLIP / ViT / DINO /
DINOv2 checkpoint works; the offline defaults are trained by ``train/train_encoders.py``.
"""

from .bag_of_descriptors import bag_length, bag_of_descriptors, soft_bag_of_descriptors
from .clip import ClipEmbedder, load_clip_vision
from .codebook import KeyCodebook, fit_codebook
from .mapper_inputs import mapper_features
from .prompt_templates import PROMPT_TEMPLATES, fill_templates
from .vit_keys import KeyCapture, ViTKeyExtractor, ViTKeys, capture_keys, find_key_projections, load_vit

__all__ = [
    "PROMPT_TEMPLATES", "ClipEmbedder", "KeyCapture", "KeyCodebook", "ViTKeyExtractor", "ViTKeys", "bag_length",
    "bag_of_descriptors", "capture_keys", "fill_templates", "find_key_projections", "fit_codebook",
    "load_clip_vision", "load_vit", "mapper_features", "soft_bag_of_descriptors",
]
