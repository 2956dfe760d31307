"""One point set against many ground truths: identification, and the constant (know-nothing) answer.

A mean Chamfer can look fine while every input gets much the same shape (a collapsed latent
space). Two measures cannot hide that:

* ``identification_top1``: the fraction of inputs whose prediction is nearer (Chamfer) to its
  own shape's ground truth than to every other evaluated shape's. A system that answers the
  same shape to everything scores 1/N (only the shape its answer happens to be nearest to).
* the ``constant`` system: the one training shape with the lowest mean Chamfer to the other
  training shapes, given as the answer to every input. Chamfer below it is what a system
  gets for looking at the image at all.

Comparing a prediction with every shape of the split is N Chamfers per input, so they are
computed on ``IDENTIFICATION_POINTS`` (2000) points of each side, drawn reproducibly from the
5000 of the main scores, against one KD-tree per ground truth built once (:class:`Gallery`).
The own shape is measured in the same way as the others, so the comparison is fair; these
numbers are a little above the 5000-point Chamfer of the tables and are not reported as one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from scipy.spatial import cKDTree

from ..atomic import atomic_path
from ..geometry.metrics import NUM_SURFACE_POINTS, sample_surface_points
from .scores import score_mesh, score_points

IDENTIFICATION_POINTS = 2000
CONSTANT_CANDIDATES = 100


def subsample(points: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` of ``points`` drawn without replacement from ``seed`` (all of them if there are fewer)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(points) <= count:
        return points
    return points[np.sort(np.random.default_rng(seed).choice(len(points), count, replace=False))]


def _chamfer_x1e3(a: np.ndarray, tree_a: cKDTree, b: np.ndarray, tree_b: cKDTree) -> float:
    d_ab, _ = tree_b.query(a, k=1)
    d_ba, _ = tree_a.query(b, k=1)
    return 1e3 * float(np.mean(d_ab**2) + np.mean(d_ba**2))


class Gallery:
    """The ground truths of the evaluated shapes, subsampled once, each with its KD-tree."""

    def __init__(self, points: Mapping[str, np.ndarray], count: int = IDENTIFICATION_POINTS, seed: int = 0) -> None:
        if not points:
            raise ValueError("a gallery needs at least one shape")
        self.count, self.seed = int(count), int(seed)
        self.ids = [str(sid) for sid in points]
        self.points = {sid: subsample(p, self.count, self.seed) for sid, p in zip(self.ids, points.values())}
        self.trees = {sid: cKDTree(p) for sid, p in self.points.items()}

    def __len__(self) -> int:
        return len(self.ids)

    def chamfer_x1e3(self, pred: np.ndarray) -> dict[str, float]:
        """Chamfer x10^3 of predicted points against every shape of the gallery, by shape id."""
        pred = subsample(pred, self.count, self.seed + 1)
        tree = cKDTree(pred)
        return {sid: _chamfer_x1e3(pred, tree, self.points[sid], self.trees[sid]) for sid in self.ids}

    def pairwise_x1e3(self) -> np.ndarray:
        """(N, N) Chamfer x10^3 between the gallery's own shapes (symmetric, zero diagonal)."""
        n = len(self.ids)
        matrix = np.zeros((n, n))
        for i in range(n):
            a, tree_a = self.points[self.ids[i]], self.trees[self.ids[i]]
            for j in range(i + 1, n):
                b, tree_b = self.points[self.ids[j]], self.trees[self.ids[j]]
                matrix[i, j] = matrix[j, i] = _chamfer_x1e3(a, tree_a, b, tree_b)
        return matrix


def score_with_cross(mesh, surface_points: np.ndarray, gallery: Gallery, *, emd_points: int,
                     seed: int = 0) -> tuple[dict, dict[str, float] | None]:
    """(Chamfer / EMD scores, Chamfer x10^3 to every gallery shape) of one predicted mesh.

    The same points feed both, as ``score_mesh`` samples them; no surface gives None scores and no cross.
    """
    if mesh is None or len(mesh.faces) == 0:
        return score_mesh(None, surface_points), None
    points = sample_surface_points(mesh, NUM_SURFACE_POINTS, seed)
    scores = score_points(points, surface_points, emd_points, seed)
    return scores, {sid: round(v, 6) for sid, v in gallery.chamfer_x1e3(points).items()}


def holds_cross(entries: Iterable[Mapping], gallery: Iterable[str]) -> bool:
    """Whether every scored entry records its Chamfer to each gallery shape (older caches do not)."""
    gallery = list(gallery)
    for entry in entries:
        cross = entry.get("cross_chamfer_x1e3")
        if entry.get("chamfer_x1e3") is not None and (
                not isinstance(cross, Mapping) or any(sid not in cross for sid in gallery)):
            return False
    return True


def most_central(points: Mapping[str, np.ndarray], count: int = IDENTIFICATION_POINTS,
                 seed: int = 0) -> tuple[str, float]:
    """(id, its mean Chamfer x10^3 to the others) of the shape nearest on average to all others; ties: the first."""
    gallery = Gallery(points, count, seed)
    if len(gallery) == 1:
        return gallery.ids[0], 0.0
    means = gallery.pairwise_x1e3().sum(axis=1) / (len(gallery) - 1)
    best = int(np.argmin(means))
    return gallery.ids[best], float(means[best])


def identified(own: str, cross: Mapping[str, float] | None, gallery: Iterable[str]) -> bool | None:
    """Whether the prediction is strictly nearer to ``own`` than to every other gallery shape.

    ``cross`` is the prediction's Chamfer to each shape; None (no surface) is not identified.
    Returns None when ``cross`` lacks one of the gallery's shapes: then it cannot be told.
    """
    if cross is None:
        return False
    gallery = list(gallery)
    if own not in cross or any(sid not in cross for sid in gallery):
        return None
    return all(cross[own] < cross[sid] for sid in gallery if sid != own)


def identification_top1(entries: Iterable[tuple[str, Mapping[str, float] | None]],
                        gallery: Iterable[str]) -> float | None:
    """Fraction of (own id, cross Chamfers) entries identified among ``gallery``; None if any cannot be told."""
    gallery = list(gallery)
    hits = [identified(own, cross, gallery) for own, cross in entries]
    if not hits or any(h is None for h in hits):
        return None
    return sum(hits) / len(hits)


def central_training_shape(split, cache: str | Path | None = None, candidates: int = CONSTANT_CANDIDATES,
                           count: int = IDENTIFICATION_POINTS, seed: int = 0) -> dict:
    """The constant answer: the most central of the first ``candidates`` shapes of ``split`` (a SplitShapes).

    All pairs of 480 training shapes would take minutes; the first 100 (dataset order, which does not
    follow the families) take about 10 s. The choice is kept in ``cache`` with what it depends on.
    """
    ids = split.shape_ids[:candidates]
    key = {"dataset": str(Path(split.dataset_dir).resolve()), "candidates": ids, "points": count, "seed": seed}
    cache = Path(cache) if cache is not None else None
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("key") == key:
            return stored["choice"]
    shape_id, mean = most_central(split.surface_points(len(ids)), count, seed)
    choice = {"shape_id": shape_id, "mean_chamfer_x1e3": round(mean, 6), "candidates": len(ids)}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            tmp.write_text(json.dumps({"key": key, "choice": choice}, indent=1))
    return choice


__all__ = ["CONSTANT_CANDIDATES", "Gallery", "IDENTIFICATION_POINTS", "central_training_shape", "holds_cross",
           "identification_top1", "identified", "most_central", "score_with_cross", "subsample"]
