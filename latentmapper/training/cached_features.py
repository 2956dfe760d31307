"""The features that ``train/precompute_features.py`` caches: per shape and view, CLIP and bag vectors.

One safetensors file per split (``features_<split>.safetensors``); the zoomed / rotated copies
of the training views and the renders from cameras between them are splits of their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open


@dataclass
class FeatureSplit:
    """Cached features of one split: per shape and view, the CLIP embedding and the bag vector."""

    shape_ids: list[str]
    clip: torch.Tensor  # (S, V, clip_dim)
    bag: torch.Tensor  # (S, V, bag_length)
    view_yaw: list[float]

    @property
    def num_views(self) -> int:
        return int(self.clip.shape[1])


AUGMENTED_SPLIT = "train_augmented"  # zoomed / rotated copies of the training views (precompute_features.py)


def novel_views_split(split: str) -> str:
    """The feature file of a split's renders from cameras between the training views (precompute_features.py)."""
    return f"{split}_novel_views"


def feature_file(features_dir: Path, split: str) -> Path:
    return Path(features_dir) / f"features_{split}.safetensors"


def load_feature_split(features_dir: Path, split: str) -> FeatureSplit:
    path = feature_file(features_dir, split)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run train/precompute_features.py first")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        clip, bag = f.get_tensor("clip"), f.get_tensor("bag")
    return FeatureSplit(json.loads(meta["shape_ids"]), clip.float(), bag.float(), json.loads(meta["view_yaw"]))


__all__ = ["AUGMENTED_SPLIT", "FeatureSplit", "feature_file", "load_feature_split", "novel_views_split"]
