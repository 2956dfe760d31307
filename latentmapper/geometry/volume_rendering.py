"""Differentiable emission-absorption rendering of feature voxel grids and triplanes.

One renderer serves every representation GOEmbed encodes into: rays come from the dataset's
cameras, points along them are looked up in the representation with ``grid_sample``
(trilinear for a voxel grid, bilinear per plane and summed for a triplane), a small shared
MLP (``latentmapper.models.radiance_decoder``) decodes the features to density and colour,
and the samples are alpha-composited over a white background.

The rays are the renders' (``latentmapper.cameras.camera_rays``), so a representation
rendered from a dataset camera lines up with the dataset's render of the same view
(``tests/test_volume_rendering.py`` checks it).

Colours are composited relative to the background, ``pixel = bg + sum_i w_i (c_i - bg)``:
the same number as ``sum_i w_i c_i + T bg`` but exact where every colour equals the
background. That is what makes the zero representation render exactly white (the decoder
maps zero features to the background colour), which GOEmbed relies on: the gradient at the
zero origin of a blank (all-white) view set is exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..cameras import camera_rays

REPRESENTATIONS = ("voxel", "triplane")
BACKGROUND = 1.0  # the renders' white, in [0, 1]
# A field maps points (B, N, 3) to density (B, N) and colour (B, N, 3).
Field = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


# ---- rays through the cube ------------------------------------------------------------------
def ray_box_interval(origins: torch.Tensor, dirs: torch.Tensor,
                     bound: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit distances of rays through the cube [-bound, bound]^3 (far <= near: a miss)."""
    safe = torch.where(dirs.abs() < 1e-9, torch.full_like(dirs, 1e-9), dirs)
    t0, t1 = (-bound - origins) / safe, (bound - origins) / safe
    near = torch.minimum(t0, t1).amax(-1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(-1)
    return near, far


def sample_along_rays(
    origins: torch.Tensor, dirs: torch.Tensor, num_samples: int, bound: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bin-midpoint samples of each ray's stretch inside the cube: points (..., S, 3), lengths (..., S).

    Equal bins, each represented by its midpoint and weighted by its length, so the lengths
    sum to the ray's path through the cube (a uniform density is integrated exactly). A
    ray that misses the cube gets zero lengths, hence no opacity.
    """
    near, far = ray_box_interval(origins, dirs, bound)
    span = (far - near).clamp_min(0.0)
    steps = (torch.arange(num_samples, device=origins.device, dtype=origins.dtype) + 0.5) / num_samples
    t = near[..., None] + span[..., None] * steps
    points = origins[..., None, :] + t[..., None] * dirs[..., None, :]
    deltas = (span / num_samples)[..., None].expand_as(t)
    return points, deltas


# ---- compositing --------------------------------------------------------------------------
@dataclass
class Composite:
    """Per ray: colour (..., 3), opacity (...), and the per-sample weights (..., S)."""

    rgb: torch.Tensor
    opacity: torch.Tensor
    weights: torch.Tensor


def composite(density: torch.Tensor, colour: torch.Tensor, deltas: torch.Tensor,
              background: float = BACKGROUND) -> Composite:
    """Emission-absorption quadrature: alpha_i = 1 - exp(-sigma_i delta_i), T_i = prod_{j<i} (1 - alpha_j).

    ``pixel = bg + sum_i T_i alpha_i (c_i - bg)``, equal to ``sum_i T_i alpha_i c_i + T_S bg``.
    """
    optical = density * deltas
    alpha = -torch.expm1(-optical)
    transmittance = torch.exp(-(torch.cumsum(optical, dim=-1) - optical))  # exclusive: T_0 = 1
    weights = transmittance * alpha
    rgb = background + (weights[..., None] * (colour - background)).sum(dim=-2)
    return Composite(rgb=rgb, opacity=weights.sum(-1), weights=weights)


# ---- representations ----------------------------------------------------------------------
def check_representation(kind: str) -> str:
    if kind not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {', '.join(REPRESENTATIONS)}, got {kind!r}")
    return kind


def representation_shape(kind: str, resolution: int, feature_dim: int) -> tuple[int, ...]:
    """Per-shape tensor shape: voxel (C, R, R, R) indexed [c, z, y, x]; triplane (3, C, R, R) for xy, xz, yz."""
    if check_representation(kind) == "voxel":
        return (feature_dim, resolution, resolution, resolution)
    return (3, feature_dim, resolution, resolution)


def sample_features(kind: str, representation: torch.Tensor, points: torch.Tensor, bound: float = 1.0) -> torch.Tensor:
    """Features (B, N, C) of ``representation`` (B, *representation_shape) at points (B, N, 3) in [-bound, bound]^3.

    Grid corners sit on the cube's corners (``align_corners=True``); outside the cube features are zero.
    """
    coords = points / bound
    if check_representation(kind) == "voxel":
        grid = coords[:, :, None, None, :]  # (B, N, 1, 1, 3) as (x, y, z) -> (W, H, D)
        out = F.grid_sample(representation, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        return out[:, :, :, 0, 0].transpose(1, 2)
    planes = (coords[..., [0, 1]], coords[..., [0, 2]], coords[..., [1, 2]])  # xy, xz, yz
    total = 0.0
    for index, uv in enumerate(planes):
        out = F.grid_sample(representation[:, index], uv[:, :, None, :], mode="bilinear", padding_mode="zeros",
                            align_corners=True)
        total = total + out[:, :, :, 0].transpose(1, 2)
    return total


def representation_field(kind: str, representation: torch.Tensor, decoder: Callable,
                         bound: float = 1.0) -> Field:
    """The field of a representation: points -> decoder(sample_features(points))."""
    return lambda points: decoder(sample_features(kind, representation, points, bound))


# ---- rendering ----------------------------------------------------------------------------
def render_rays(field: Field, origins: torch.Tensor, dirs: torch.Tensor, num_samples: int = 32,
                bound: float = 1.0, background: float = BACKGROUND) -> Composite:
    """Render rays (B, R, 3) through ``field`` (batched per leading index)."""
    points, deltas = sample_along_rays(origins, dirs, num_samples, bound)
    batch, rays = points.shape[:2]
    density, colour = field(points.reshape(batch, rays * num_samples, 3))
    return composite(density.reshape(batch, rays, num_samples), colour.reshape(batch, rays, num_samples, 3),
                     deltas, background)


def render_views(field: Field, camera_to_world: torch.Tensor, fov: torch.Tensor, size: int,
                 num_samples: int = 32, bound: float = 1.0, background: float = BACKGROUND) -> torch.Tensor:
    """Images (B, V, 3, size, size) of ``field`` from cameras (B, V, 4, 4) and fovs (B, V)."""
    if camera_to_world.dim() != 4:
        raise ValueError(f"poses must be (B, V, 4, 4), got {tuple(camera_to_world.shape)}")
    batch, views = camera_to_world.shape[:2]
    origins, dirs = camera_rays(camera_to_world, fov, size)  # (B, V, P, 3)
    out = render_rays(field, origins.reshape(batch, -1, 3), dirs.reshape(batch, -1, 3), num_samples, bound,
                      background)
    return out.rgb.reshape(batch, views, size, size, 3).permute(0, 1, 4, 2, 3)


def render_representation(kind: str, representation: torch.Tensor, decoder: Callable,
                          camera_to_world: torch.Tensor, fov: torch.Tensor, size: int, num_samples: int = 32,
                          bound: float = 1.0, background: float = BACKGROUND) -> torch.Tensor:
    """Images (B, V, 3, size, size) of representations (B, ...); ``decoder``: features -> (density, colour)."""
    field = representation_field(kind, representation, decoder, bound)
    return render_views(field, camera_to_world, fov, size, num_samples, bound, background)


__all__ = [
    "BACKGROUND", "Composite", "REPRESENTATIONS", "check_representation", "composite", "ray_box_interval",
    "render_rays", "render_representation", "render_views", "representation_field", "representation_shape", "sample_along_rays", "sample_features",
]
