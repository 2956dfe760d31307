"""Normalise meshes to the unit sphere the way DeepSDF / DIT preprocess ShapeNet."""

from __future__ import annotations

import numpy as np
import trimesh

DEFAULT_BUFFER = 1.03


def normalize_to_unit_sphere(
    mesh: trimesh.Trimesh, buffer: float = DEFAULT_BUFFER
) -> tuple[trimesh.Trimesh, np.ndarray, float]:
    """Centre the bounding box at the origin and scale so the farthest vertex is at 1/buffer.

    Returns the new mesh and (center, scale) such that ``normalised = (original - center) * scale``.
    Axes are kept: the input is expected in ShapeNet's frame (y up, front towards -z).
    """
    if len(mesh.vertices) == 0:
        raise ValueError("cannot normalise an empty mesh")
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    center = (vertices.min(axis=0) + vertices.max(axis=0)) / 2.0
    radius = np.linalg.norm(vertices - center, axis=1).max()
    if not np.isfinite(radius) or radius <= 0:
        raise ValueError("cannot normalise a mesh with no extent")
    scale = 1.0 / (radius * buffer)
    out = mesh.copy()
    out.vertices = (vertices - center) * scale
    return out, center, float(scale)
