"""The frozen k-means codebook of ViT key descriptors (the paper's K=20 "visual words").

As in the paper, the keys of every layer of N=500 random training renders are pooled, 20% of
them are kept at random (all of them would not fit in memory for a real DINO), and
scikit-learn's ``MiniBatchKMeans`` clusters them into K words; one codebook serves all layers.
Keys are L2-normalised first (``normalize=True``), i.e. clustered by cosine similarity as in
Amir et al.'s descriptors: the keys of different layers differ mostly in norm, which would
otherwise dominate the clustering.

The centroids are kept as a buffer of a ``ModelMixin``, so the codebook saves as safetensors
with a ``config.json`` and loads without unpickling; :meth:`KeyCodebook.assign` gives the
same labels as the fitted estimator's ``predict``. The codebook also owns the bag grid size,
so it alone defines the bag-of-descriptors vector that the autoencoder was trained on.

``assignment_temperature`` 0 (the default, and what a config without the key loads as) counts
hard labels as the paper does. Above 0 each patch is spread over the words by a softmax of its
negative squared distances divided by the temperature (see ``soft_bag_of_descriptors``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from .bag_of_descriptors import bag_length, bag_of_descriptors, soft_bag_of_descriptors

if TYPE_CHECKING:  # scikit-learn is imported only to fit, not to load or use a codebook
    from sklearn.cluster import MiniBatchKMeans


class KeyCodebook(ModelMixin, ConfigMixin):
    """K centroids over D-dimensional keys; ``assign`` labels keys, ``bag`` builds the image vector."""

    @register_to_config
    def __init__(
        self,
        num_words: int = 20,
        key_dim: int = 384,
        num_layers: int = 12,
        grid_size: int = 4,
        normalize: bool = True,
        assignment_temperature: float = 0.0,
    ) -> None:
        super().__init__()
        if not assignment_temperature >= 0.0:
            raise ValueError(f"assignment_temperature must be >= 0 (0: hard labels), got {assignment_temperature}")
        self.register_buffer("centroids", torch.zeros(num_words, key_dim))

    @classmethod
    def from_kmeans(
        cls, kmeans: "MiniBatchKMeans", *, num_layers: int, grid_size: int = 4, normalize: bool = True,
        assignment_temperature: float = 0.0,
    ) -> "KeyCodebook":
        """Wrap a fitted estimator (its ``cluster_centers_``) as a component."""
        centers = torch.as_tensor(np.asarray(kmeans.cluster_centers_), dtype=torch.float32)
        codebook = cls(num_words=centers.shape[0], key_dim=centers.shape[1], num_layers=num_layers,
                       grid_size=grid_size, normalize=normalize, assignment_temperature=assignment_temperature)
        codebook.centroids.copy_(centers)
        return codebook

    @property
    def bag_length(self) -> int:
        return bag_length(self.config.num_layers, self.config.num_words, self.config.grid_size)

    def prepare(self, descriptors: torch.Tensor) -> torch.Tensor:
        """The descriptors as the clustering saw them (L2-normalised when ``normalize``)."""
        return F.normalize(descriptors, dim=-1) if self.config.normalize else descriptors

    @torch.no_grad()
    def assign(self, descriptors: torch.Tensor) -> torch.Tensor:
        """(..., D) keys -> (...) nearest-centroid labels (int64), squared Euclidean as scikit-learn.

        Distances are taken in float64 so that near-ties resolve as the estimator's do.
        """
        return self.squared_distances(descriptors).argmin(dim=-1)

    @torch.no_grad()
    def squared_distances(self, descriptors: torch.Tensor) -> torch.Tensor:
        """(..., D) keys -> (..., K) float64 squared distances to the centroids."""
        if descriptors.shape[-1] != self.config.key_dim:
            raise ValueError(f"descriptors have dimension {descriptors.shape[-1]}, the codebook {self.config.key_dim}")
        lead = descriptors.shape[:-1]
        x = self.prepare(descriptors.reshape(-1, descriptors.shape[-1]).to(self.centroids.device).float()).double()
        c = self.centroids.double()
        dist = x.pow(2).sum(-1, keepdim=True) - 2.0 * x @ c.T + c.pow(2).sum(-1)
        return dist.reshape(*lead, -1)

    @torch.no_grad()
    def soft_assign(self, descriptors: torch.Tensor) -> torch.Tensor:
        """(..., D) keys -> (..., K) word weights, softmax(-distance^2 / assignment_temperature)."""
        temperature = float(self.config.assignment_temperature)
        if temperature <= 0.0:
            raise ValueError("soft_assign needs assignment_temperature > 0; this codebook counts hard labels")
        return torch.softmax(-self.squared_distances(descriptors) / temperature, dim=-1).float()

    def bag(self, keys: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(B, L, h*w, D) patch keys of all layers -> (B, bag_length) bag-of-descriptors vectors."""
        batch, layers, patches, _ = keys.shape
        if layers != self.config.num_layers:
            raise ValueError(f"keys come from {layers} layers; this codebook was fitted on {self.config.num_layers}")
        if patches != grid[0] * grid[1]:
            raise ValueError(f"{patches} patches do not form a {grid[0]}x{grid[1]} grid")
        if self.config.assignment_temperature > 0.0:
            weights = self.soft_assign(keys).reshape(batch, layers, grid[0], grid[1], -1)
            return soft_bag_of_descriptors(weights, self.config.grid_size)
        labels = self.assign(keys).reshape(batch, layers, grid[0], grid[1])
        return bag_of_descriptors(labels, self.config.num_words, self.config.grid_size)

    def forward(self, keys: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        return self.bag(keys, grid)


def subsample_descriptors(
    keys: torch.Tensor, fraction: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A random ``fraction`` of the (..., D) descriptors (at least one), flattened to (N, D)."""
    flat = keys.reshape(-1, keys.shape[-1])
    count = max(1, int(round(flat.shape[0] * fraction)))
    index = torch.randperm(flat.shape[0], generator=generator)[:count]
    return flat[index.to(flat.device)]


def fit_kmeans(
    descriptors: np.ndarray | torch.Tensor | Iterable[torch.Tensor],
    num_words: int = 20,
    *,
    normalize: bool = True,
    batch_size: int = 4096,
    seed: int = 0,
) -> "MiniBatchKMeans":
    """Cluster (N, D) descriptors (or an iterable of chunks) with ``MiniBatchKMeans``."""
    from sklearn.cluster import MiniBatchKMeans

    if not isinstance(descriptors, (np.ndarray, torch.Tensor)):
        descriptors = torch.cat([torch.as_tensor(d).reshape(-1, torch.as_tensor(d).shape[-1]) for d in descriptors])
    x = torch.as_tensor(descriptors, dtype=torch.float32)
    if x.dim() != 2 or x.shape[0] < num_words:
        raise ValueError(f"need (N, D) descriptors with N >= {num_words}, got {tuple(x.shape)}")
    if normalize:
        x = F.normalize(x, dim=-1)
    kmeans = MiniBatchKMeans(n_clusters=num_words, batch_size=batch_size, random_state=seed, n_init="auto")
    return kmeans.fit(x.cpu().numpy())


def fit_codebook(
    descriptors: np.ndarray | torch.Tensor | Iterable[torch.Tensor],
    *,
    num_layers: int,
    num_words: int = 20,
    grid_size: int = 4,
    normalize: bool = True,
    batch_size: int = 4096,
    seed: int = 0,
    assignment_temperature: float = 0.0,
) -> KeyCodebook:
    """Fit the k-means codebook on pooled key descriptors and freeze it as a component."""
    kmeans = fit_kmeans(descriptors, num_words, normalize=normalize, batch_size=batch_size, seed=seed)
    return KeyCodebook.from_kmeans(kmeans, num_layers=num_layers, grid_size=grid_size, normalize=normalize,
                                   assignment_temperature=assignment_temperature).eval()


__all__ = ["KeyCodebook", "fit_codebook", "fit_kmeans", "subsample_descriptors"]
