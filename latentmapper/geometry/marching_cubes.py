"""Marching cubes (PyMCubes) from an SDF grid to a ``trimesh.Trimesh`` in world coordinates.

Only cells whose corners straddle the level produce triangles, so the grid is first
cropped to the bounding box of the inside points grown by one cell: the mesh is the same,
and PyMCubes, whose cost is per cell, runs on a fraction of a 256^3 grid.
"""

from __future__ import annotations

import mcubes
import numpy as np
import trimesh

from .grid import SDFGrid


class EmptySurfaceError(ValueError):
    """The SDF has no zero crossing inside the grid, so there is no surface to mesh."""


def _surface_box(inside: np.ndarray) -> tuple[slice, slice, slice]:
    """Index box holding every cell that may straddle the level: the inside points, grown by one."""
    xy = inside.any(axis=2)
    hits = (np.flatnonzero(xy.any(axis=1)), np.flatnonzero(xy.any(axis=0)), np.flatnonzero(inside.any(axis=(0, 1))))
    return tuple(slice(max(int(h[0]) - 1, 0), min(int(h[-1]) + 2, n)) for h, n in zip(hits, inside.shape))


def _close_at_the_bounds(values: np.ndarray, level: float) -> np.ndarray:
    """``values`` with its outer layer of lattice points moved outside where it was inside.

    A shape that reaches the grid's bounds (a wing tip past the unit cube, say) would be cut
    open there; counting the outermost layer as outside caps it, so meshes stay watertight.
    """
    outer = [(slice(None),) * axis + (end,) for axis in range(3) for end in (0, -1)]
    if min(float(values[index].min()) for index in outer) >= level:
        return values
    closed = values.copy()
    for index in outer:
        np.maximum(closed[index], level, out=closed[index])  # on the level counts as outside
    return closed


def marching_cubes(grid: SDFGrid, level: float = 0.0) -> trimesh.Trimesh:
    """Mesh the ``level`` set of ``grid`` (negative inside), faces wound outwards.

    Surfaces that reach the bounds are capped there (see ``_close_at_the_bounds``). Raises
    ``EmptySurfaceError`` when the SDF never crosses ``level`` on the grid (for a
    decoder: the latent describes no surface inside the bounds).
    """
    values = grid.values
    vmin, vmax = float(values.min()), float(values.max())  # NaN propagates into both
    if not (np.isfinite(vmin) and np.isfinite(vmax)):
        raise ValueError("the SDF grid holds NaN or infinite values; cannot mesh it")
    if vmin > level or vmax < level:
        side = "outside" if vmin > level else "inside"
        raise EmptySurfaceError(
            f"the SDF has no zero crossing on the {grid.resolution}^3 grid (every point is "
            f"{side} the shape; SDF range [{vmin:.4f}, {vmax:.4f}])"
        )
    values = _close_at_the_bounds(values, level)
    inside = values < level
    if not inside.any():
        raise EmptySurfaceError(f"the SDF only touches {level} on the grid; there is no inside to mesh")
    box = _surface_box(inside)
    crop = values[box]
    # A value on (or within rounding of) the level puts the vertices of several cell edges on one
    # grid corner; welded together they make non-manifold edges and the mesh is not watertight.
    # Values within a thousandth of a cell of the level move to that distance, keeping their side
    # (the level itself counts as outside): the surface moves by less than that, the signs not at all.
    eps = 1e-3 * float(np.min(grid.spacing))
    crop = np.where(np.abs(crop - level) < eps, np.where(crop < level, level - eps, level + eps), crop)
    # PyMCubes treats larger values as inside; negate so that faces point outwards.
    vertices, faces = mcubes.marching_cubes(-crop, -level)
    if len(faces) == 0:
        raise EmptySurfaceError("marching cubes found no surface in the SDF grid")
    lo, _ = grid.bounds
    offset = np.array([s.start for s in box], dtype=np.float64)
    vertices = (vertices + offset[None, :]) * grid.spacing[None, :] + lo[None, :]
    return trimesh.Trimesh(vertices.astype(np.float32), faces.astype(np.int64), process=True)
