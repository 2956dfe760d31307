"""Scores of one prediction and their summaries over a split (docs/architecture.md, conventions).

Chamfer (x10^3) and EMD (x10^2) as ``latentmapper.geometry`` defines them: the prediction
is sampled once (5000 points, seed fixed, so a rerun scores identically) and both metrics
use those points against the shape's stored surface samples. A prediction without a
surface has no score (None); summaries leave it out of the means and count it instead, so
a table can say how many inputs a system failed on.
"""

from __future__ import annotations

import math
import statistics
from typing import Iterable, Sequence

import numpy as np
import trimesh

from ..geometry.metrics import NUM_EMD_POINTS, NUM_SURFACE_POINTS, chamfer_x1e3, emd_x1e2, sample_surface_points


def score_points(pred: np.ndarray, gt: np.ndarray, emd_points: int = NUM_EMD_POINTS, seed: int = 0) -> dict:
    """Chamfer x10^3 (all points) and EMD x10^2 (``emd_points`` of each set) between two point sets."""
    return {"chamfer_x1e3": chamfer_x1e3(pred, gt), "emd_x1e2": emd_x1e2(pred, gt, emd_points, seed)}


def score_mesh(mesh: trimesh.Trimesh | None, gt: np.ndarray, emd_points: int = NUM_EMD_POINTS,
               num_points: int = NUM_SURFACE_POINTS, seed: int = 0) -> dict:
    """The scores of a predicted mesh (None or no faces: both None) against ground-truth points."""
    if mesh is None or len(mesh.faces) == 0:
        return {"chamfer_x1e3": None, "emd_x1e2": None}
    return score_points(sample_surface_points(mesh, num_points, seed), gt, emd_points, seed)


def finite(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def mean_or_none(values: Iterable[float | None]) -> float | None:
    kept = finite(values)
    return float(np.mean(kept)) if kept else None


def median_or_none(values: Iterable[float | None]) -> float | None:
    kept = finite(values)
    return float(statistics.median(kept)) if kept else None


def view_spread(per_shape: Sequence[Sequence[float | None]]) -> dict:
    """How much a shape's score moves with the view: std and max - min over its views, averaged over shapes.

    Shapes with fewer than two scored views add nothing. A view-agnostic system has a small spread.
    """
    stds, ranges = [], []
    for values in per_shape:
        kept = finite(values)
        if len(kept) > 1:
            stds.append(float(np.std(kept)))
            ranges.append(max(kept) - min(kept))
    return {"mean_std": mean_or_none(stds), "mean_max_minus_min": mean_or_none(ranges), "shapes": len(stds)}


__all__ = ["finite", "mean_or_none", "median_or_none", "score_mesh", "score_points", "view_spread"]
