"""Shape metrics as the paper reports them (docs/architecture.md, conventions).

Chamfer: mean squared nearest-neighbour distance from prediction to ground truth plus the
same from ground truth to prediction, on 5000 surface samples each, reported x10^3.
EMD: mean Euclidean distance of an exact one-to-one matching (Hungarian algorithm) between
equal-sized point sets, reported x10^2. The matching is cubic in the number of points, so
EMD uses a configurable random subset of each set.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

NUM_SURFACE_POINTS = 5000
NUM_EMD_POINTS = 1024

PointsOrMesh = np.ndarray | trimesh.Trimesh


def sample_surface_points(mesh: trimesh.Trimesh, count: int = NUM_SURFACE_POINTS, seed: int = 0) -> np.ndarray:
    """``count`` points uniform by area on ``mesh``, reproducible from ``seed``."""
    if len(mesh.faces) == 0:
        raise ValueError("cannot sample points from a mesh without faces")
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points, dtype=np.float64)


def _points(shape: PointsOrMesh, count: int, seed: int) -> np.ndarray:
    if isinstance(shape, trimesh.Trimesh):
        return sample_surface_points(shape, count, seed)
    points = np.asarray(shape, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(f"expected a mesh or a non-empty (N, 3) point array, got shape {points.shape}")
    return points


def chamfer_distance(pred: PointsOrMesh, gt: PointsOrMesh, num_points: int = NUM_SURFACE_POINTS, seed: int = 0) -> float:
    """Mean squared NN distance pred -> gt plus gt -> pred (meshes are sampled with ``num_points``)."""
    a, b = _points(pred, num_points, seed), _points(gt, num_points, seed + 1)
    d_ab, _ = cKDTree(b).query(a, k=1)
    d_ba, _ = cKDTree(a).query(b, k=1)
    return float(np.mean(d_ab**2) + np.mean(d_ba**2))


def chamfer_x1e3(pred: PointsOrMesh, gt: PointsOrMesh, num_points: int = NUM_SURFACE_POINTS, seed: int = 0) -> float:
    """Chamfer distance as reported: x10^3."""
    return 1e3 * chamfer_distance(pred, gt, num_points, seed)


def earth_movers_distance(
    pred: PointsOrMesh,
    gt: PointsOrMesh,
    num_points: int = NUM_EMD_POINTS,
    seed: int = 0,
) -> float:
    """Mean Euclidean distance of the optimal one-to-one matching of ``num_points`` points each.

    Larger sets are subsampled at random (reproducibly from ``seed``); if either set has
    fewer points, both use that many.
    """
    rng = np.random.default_rng(seed)
    a, b = _points(pred, num_points, seed), _points(gt, num_points, seed + 1)
    count = min(num_points, len(a), len(b))
    if len(a) > count:
        a = a[rng.choice(len(a), count, replace=False)]
    if len(b) > count:
        b = b[rng.choice(len(b), count, replace=False)]
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def emd_x1e2(pred: PointsOrMesh, gt: PointsOrMesh, num_points: int = NUM_EMD_POINTS, seed: int = 0) -> float:
    """Earth mover's distance as reported: x10^2."""
    return 1e2 * earth_movers_distance(pred, gt, num_points, seed)
