"""Marching cubes (PyMCubes) from an SDF grid to a ``trimesh.Trimesh`` in world coordinates."""

from __future__ import annotations

import mcubes
import numpy as np
import trimesh

from .grid import SDFGrid


class EmptySurfaceError(ValueError):
    """The SDF has no zero crossing inside the grid, so there is no surface to mesh."""


def marching_cubes(grid: SDFGrid, level: float = 0.0) -> trimesh.Trimesh:
    """Mesh the ``level`` set of ``grid`` (negative inside), faces wound outwards."""
    values = grid.values
    if not np.isfinite(values).all():
        raise ValueError("the SDF grid holds NaN or infinite values; cannot mesh it")
    if values.min() > level or values.max() < level:
        side = "outside" if values.min() > level else "inside"
        raise EmptySurfaceError(
            f"the SDF has no zero crossing on the {grid.resolution}^3 grid (every point is "
            f"{side} the shape; SDF range [{values.min():.4f}, {values.max():.4f}])"
        )
    # PyMCubes treats larger values as inside; negate so that faces point outwards.
    vertices, faces = mcubes.marching_cubes(-values.astype(np.float64), -level)
    if len(faces) == 0:
        raise EmptySurfaceError("marching cubes found no surface in the SDF grid")
    lo, _ = grid.bounds
    vertices = vertices * grid.spacing[None, :] + lo[None, :]
    return trimesh.Trimesh(vertices.astype(np.float32), faces.astype(np.int64), process=True)
