"""A category's render framing statistics, as a pipeline component (``framing``).

Photo mode frames a photo's object, and sets its grey level, as training renders with the
most similar silhouettes show theirs (see ``framing`` for why one fixed framing is not
enough). This component holds what that lookup needs: for up to 1200 training renders, the
silhouette features, the framing (log longest side, box centre) and the object's grey level
(mean, std), float16 buffers saved as safetensors beside a ``config.json``; and the
category's overall object colours (per-channel mean and std), used where no grey level was
measured. ``python -m latentmapper.photo fit-framing`` measures it from a built dataset.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from .framing import FEATURE_WEIGHTS, render_framing, render_shading, silhouette_features

Colours = tuple[tuple[float, float, float], tuple[float, float, float]]


class FramingReference(ModelMixin, ConfigMixin):
    """Silhouette features, framings and grey levels of a category's training renders, for lookup."""

    @register_to_config
    def __init__(
        self,
        num_references: int = 1200,
        neighbours: int = 5,
        with_shading: bool = True,
        colour_mean: Sequence[float] | None = None,
        colour_std: Sequence[float] | None = None,
        category: str = "object",
    ) -> None:
        super().__init__()
        if neighbours < 1 or num_references < neighbours:
            raise ValueError(f"need at least neighbours={neighbours} >= 1 references, got {num_references}")
        if (colour_mean is None) != (colour_std is None):
            raise ValueError("give both colour_mean and colour_std, or neither")
        self.register_buffer("features", torch.zeros(num_references, 4, dtype=torch.float16))
        self.register_buffer("framing", torch.zeros(num_references, 3, dtype=torch.float16))
        self.register_buffer("shading", torch.zeros(num_references if with_shading else 0, 2, dtype=torch.float16))

    @classmethod
    def from_masks(cls, masks, size: int = 1200, neighbours: int = 5, seed: int = 0, renders=None,
                   colours: Colours | None = None, category: str = "object") -> "FramingReference":
        """Up to ``size`` render silhouettes, drawn at random, as the reference set; with ``renders``
        (the renders those masks came from) also their grey levels; ``colours``: the category's
        object (mean, std) per channel."""
        masks = list(masks)
        pick = sorted(np.random.default_rng(seed).choice(len(masks), min(size, len(masks)), replace=False))
        mean, std = colours if colours is not None else (None, None)
        reference = cls(num_references=len(pick), neighbours=min(neighbours, len(pick)), with_shading=renders is not None,
                        colour_mean=mean, colour_std=std, category=category)
        reference.features.copy_(_half([silhouette_features(masks[i]) for i in pick]))
        reference.framing.copy_(_half([render_framing(masks[i]) for i in pick]))
        if renders is not None:
            reference.shading.copy_(_half([render_shading(renders[i], masks[i]) for i in pick]))
        return reference.eval()

    @property
    def colours(self) -> Colours | None:
        """The category's object colours: ((mean R, G, B), (std R, G, B)); None when not measured."""
        if self.config.colour_mean is None:
            return None
        return tuple(self.config.colour_mean), tuple(self.config.colour_std)

    def _table(self, name: str) -> np.ndarray:
        return getattr(self, name).detach().cpu().double().numpy()

    def _nearest(self, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the ``neighbours`` most similar reference silhouettes and their weights."""
        weights = np.asarray(FEATURE_WEIGHTS)
        distance = np.sqrt((((self._table("features") - silhouette_features(alpha)) * weights) ** 2).sum(1))
        nearest = np.argsort(distance)[: self.config.neighbours]
        w = 1.0 / (distance[nearest] + 1e-3)
        return nearest, w / w.sum()

    def lookup(self, alpha: np.ndarray) -> tuple[float, tuple[float, float]]:
        """(longest side, (centre x, centre y)) that renders with this silhouette have, fractions of the side."""
        nearest, w = self._nearest(alpha)
        log_side, cx, cy = (self._table("framing")[nearest] * w[:, None]).sum(0)
        return float(np.exp(log_side)), (float(cx), float(cy))

    def lookup_shading(self, alpha: np.ndarray) -> tuple[float, float] | None:
        """(mean, std) grey level of the object in renders with this silhouette; None without shading data.

        The renders' shading depends on the view (a car seen from the front is darker than from the
        side), and the encoders read it as shape, so a photo's object is matched to these rather
        than to the category's overall statistics.
        """
        if not self.config.with_shading:
            return None
        nearest, w = self._nearest(alpha)
        mean, std = (self._table("shading")[nearest] * w[:, None]).sum(0)
        return float(mean), float(std)


def _half(rows: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(rows).astype("<f2"))  # numpy rounds float64 to float16 directly


__all__ = ["FramingReference"]
