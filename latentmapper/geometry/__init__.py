"""Geometry: SDF grids (coarse-to-fine), marching cubes, sphere tracing and shape metrics."""

from .decode import grid_to_mesh, latent_to_grid, latent_to_mesh
from .grid import SDFGrid, evaluate_sdf_grid, grid_points
from .marching_cubes import EmptySurfaceError, marching_cubes
from .metrics import (
    chamfer_distance,
    chamfer_x1e3,
    earth_movers_distance,
    emd_x1e2,
    sample_surface_points,
)
from .sphere_tracing import render_latent, render_sdf, sphere_trace
from .volume_rendering import render_representation

__all__ = [
    "SDFGrid",
    "evaluate_sdf_grid",
    "grid_points",
    "EmptySurfaceError",
    "marching_cubes",
    "grid_to_mesh",
    "latent_to_grid",
    "latent_to_mesh",
    "chamfer_distance",
    "chamfer_x1e3",
    "earth_movers_distance",
    "emd_x1e2",
    "sample_surface_points",
    "render_latent",
    "render_sdf",
    "sphere_trace",
    "render_representation",
]
