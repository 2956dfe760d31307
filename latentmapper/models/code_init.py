"""Auto-decoder codes that start from the shapes themselves: a PCA of coarse clamped SDF grids.

Random codes (DeepSDF's N(0, 1/L)) carry no information, so on a small CPU budget most of an
auto-decoder's epochs go into the codes finding out which shapes are alike. Starting from a
PCA of each shape's clamped SDF on a coarse grid, similar shapes start with similar codes
and the main modes of variation are spread over the first dimensions from step one.

The grid values come from the shape's own SDF samples (inverse-distance weighting of the
nearest samples), so no mesh is needed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.spatial import cKDTree
from sklearn.decomposition import PCA


def coarse_sdf_grid(samples: np.ndarray | torch.Tensor, resolution: int = 16, clamp: float = 0.1, neighbours: int = 4) -> np.ndarray:
    """Clamped SDF on a ``resolution^3`` grid over [-1, 1]^3 from (N, 4) samples: a shape descriptor."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != 4 or len(samples) < neighbours:
        raise ValueError(f"expected (N, 4) SDF samples with N >= {neighbours}, got {samples.shape}")
    axis = np.linspace(-1.0, 1.0, resolution)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    dist, idx = cKDTree(samples[:, :3]).query(grid, k=neighbours)
    weight = 1.0 / (dist + 1e-4)
    values = (samples[idx, 3] * weight).sum(1) / weight.sum(1)
    return np.clip(values, -clamp, clamp).astype(np.float32)


def pca_codes(
    samples: Sequence[np.ndarray | torch.Tensor],
    latent_size: int,
    mean_norm: float = 0.5,
    resolution: int = 16,
    clamp: float = 0.1,
    seed: int = 0,
) -> torch.Tensor:
    """(S, latent_size) codes: PCA scores of the shapes' coarse SDF grids, scaled to ``mean_norm``.

    One scale for all dimensions keeps the PCA's geometry (the first modes stay the largest).
    With fewer shapes than dimensions, the remaining dimensions get small random values so
    that no code dimension starts dead.
    """
    grids = np.stack([coarse_sdf_grid(s, resolution, clamp) for s in samples])
    count = min(latent_size, len(grids) - 1, grids.shape[1])
    codes = np.zeros((len(grids), latent_size), dtype=np.float64)
    if count >= 1:
        codes[:, :count] = PCA(n_components=count, random_state=seed).fit_transform(grids)
    norm = np.linalg.norm(codes, axis=1).mean()
    codes = codes * (mean_norm / norm) if norm > 0 else codes
    if count < latent_size:
        rng = np.random.default_rng(seed)
        codes[:, count:] = rng.normal(0.0, 0.01 * mean_norm / np.sqrt(latent_size), (len(grids), latent_size - count))
    return torch.from_numpy(codes.astype(np.float32))


__all__ = ["coarse_sdf_grid", "pca_codes"]
