"""From a latent code to an SDF grid and a mesh, on whichever device the decoder lives.

The decoder's output is a distance only within its training clamp (tanh output, clamped
loss), so the grid evaluation is told that clamp as its truncation; see ``grid.py``.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import trimesh

from .batching import auto_workers
from .grid import Bounds, SDFGrid, evaluate_sdf_grid
from .marching_cubes import EmptySurfaceError, marching_cubes


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Evaluation mode for the duration (no dropout, fused inference path), then restore."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def latent_to_grid(
    decoder,
    latent: torch.Tensor,
    resolution: int = 128,
    *,
    bounds: Bounds | float = 1.0,
    coarse_to_fine: bool = True,
    margin: float = 1.0,
    chunk_size: int = 1024,
    batch_size: int = 262144,
    autocast: bool = True,
    workers: int | None = None,
) -> SDFGrid:
    """Evaluate ``decoder``'s SDF for one ``latent`` (L,) on a ``resolution^3`` grid.

    Any decoder with a thread-safe ``sdf_fn(latent, chunk_size)`` and
    ``config.clamp_distance`` works; queries run on the decoder's device (fp16 autocast on
    CUDA when ``autocast``), on a CPU on ``workers`` threads (default: one per core PyTorch uses).
    """
    latent = torch.as_tensor(latent)
    if not torch.isfinite(latent).all():  # checked first: the grid would only find out after every query
        raise ValueError("the latent holds NaN or infinite values; it describes no shape")
    device = next(decoder.parameters()).device
    truncation = getattr(decoder.config, "clamp_distance", None)
    with eval_mode(decoder):
        fn = decoder.sdf_fn(latent.to(device), chunk_size=chunk_size)
        return evaluate_sdf_grid(
            fn,
            resolution,
            bounds,
            coarse_to_fine=coarse_to_fine,
            margin=margin,
            truncation=truncation,
            batch_size=batch_size,
            device=device,
            autocast=autocast,
            workers=auto_workers() if workers is None else workers,
        )


def latent_to_mesh(
    decoder,
    latent: torch.Tensor,
    resolution: int = 128,
    **grid_kwargs,
) -> trimesh.Trimesh:
    """Mesh of the shape ``latent`` describes: coarse-to-fine SDF grid, then marching cubes.

    Raises ``EmptySurfaceError`` (a ``ValueError``) when the latent decodes to no surface
    inside the bounds, e.g. a code far outside the training distribution.
    """
    return grid_to_mesh(latent_to_grid(decoder, latent, resolution, **grid_kwargs))


def grid_to_mesh(grid: SDFGrid) -> trimesh.Trimesh:
    """Marching cubes of a latent's SDF grid (the second half of ``latent_to_mesh``, for callers that time
    the halves apart); no surface raises ``EmptySurfaceError`` saying the latent has none."""
    try:
        return marching_cubes(grid)
    except EmptySurfaceError as err:
        raise EmptySurfaceError(f"this latent decodes to no surface: {err}") from None
