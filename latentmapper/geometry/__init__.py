"""Geometry: SDF grids (coarse-to-fine), marching cubes, sphere tracing and shape metrics."""

from .grid import SDFGrid, evaluate_sdf_grid, grid_points
from .marching_cubes import EmptySurfaceError, marching_cubes

__all__ = ["SDFGrid", "evaluate_sdf_grid", "grid_points", "EmptySurfaceError", "marching_cubes"]
