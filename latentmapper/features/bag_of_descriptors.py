"""Bag of descriptors: one fixed-length vector per image from its codebook-labelled patch keys.

Every patch key of every layer is assigned to one of the K codebook words (the frozen
k-means centroids). For each layer l the vector holds

* the layer's word histogram: the fraction of its patches labelled with each word (K values);
* its patch label map, one-hot and average-pooled to a G x G grid of cells: per cell, the
  fraction of the cell's patches labelled with each word (G*G*K values, cells row-major).
  With G equal to the patch grid this is exactly the one-hot label map; a small G keeps the
  layout (where the object and its parts are) at a length independent of the image size.

Layers are concatenated in order, each as [histogram, cell 0, cell 1, ...], so

    length = L * K * (1 + G^2)

e.g. L=12 layers (DINO ViT-S/8), K=20, G=4 gives 4080 (the paper's vector, built from the
same ingredients in an undocumented way, is 4235 long); the default small ViT of
``train/train_encoders.py`` (6 layers) with K=20, G=4 gives 2040. Every entry lies in [0, 1]
and each block of K sums to 1.

The paper counts hard labels. :func:`soft_bag_of_descriptors` builds the same layout from
per-patch word weights instead (each patch spread over the words by its distances to them),
so that a key near the border between two words does not flip the vector when the image moves
by a pixel; the codebook's ``assignment_temperature`` picks between the two.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bag_length(num_layers: int, num_words: int, grid_size: int) -> int:
    """Length of the bag-of-descriptors vector: L * K * (1 + G^2)."""
    if min(num_layers, num_words, grid_size) < 1:
        raise ValueError("num_layers, num_words and grid_size must be positive")
    return num_layers * num_words * (1 + grid_size**2)


def bag_of_descriptors(labels: torch.Tensor, num_words: int, grid_size: int) -> torch.Tensor:
    """(B, L, h, w) integer word labels -> (B, L*K*(1+G^2)) float32 vectors (layout in the module doc)."""
    if labels.dim() != 4:
        raise ValueError(f"labels must be (batch, layers, h, w), got {tuple(labels.shape)}")
    batch, layers, h, w = labels.shape
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_words):
        raise ValueError(f"labels must lie in [0, {num_words}); got [{int(labels.min())}, {int(labels.max())}]")
    return soft_bag_of_descriptors(F.one_hot(labels.long(), num_words).float(), grid_size)


def soft_bag_of_descriptors(weights: torch.Tensor, grid_size: int) -> torch.Tensor:
    """(B, L, h, w, K) per-patch word weights (each patch's K weights summing to 1) -> (B, L*K*(1+G^2)).

    One-hot weights give exactly :func:`bag_of_descriptors` of their labels.
    """
    if weights.dim() != 5:
        raise ValueError(f"weights must be (batch, layers, h, w, words), got {tuple(weights.shape)}")
    batch, layers, h, w, num_words = weights.shape
    weights = weights.float()
    histogram = weights.mean(dim=(2, 3))  # (B, L, K)
    maps = weights.permute(0, 1, 4, 2, 3).reshape(batch * layers, num_words, h, w)
    cells = F.adaptive_avg_pool2d(maps, grid_size)  # (B*L, K, G, G)
    cells = cells.reshape(batch, layers, num_words, grid_size * grid_size).transpose(2, 3)  # (B, L, G*G, K)
    per_layer = torch.cat([histogram.unsqueeze(2), cells], dim=2)  # (B, L, 1+G*G, K)
    return per_layer.reshape(batch, -1)


__all__ = ["bag_length", "bag_of_descriptors", "soft_bag_of_descriptors"]
