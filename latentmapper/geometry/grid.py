"""Evaluate a signed distance function on a regular grid, coarse to fine.

Meshing cost is the number of SDF queries. A dense N^3 grid queries every point; most of
them are far from the surface and only their sign matters. Here a coarse lattice is
evaluated first and each level refines only the cells that may hold surface: cells whose
corners change sign, or whose smallest |SDF| is within ``margin`` cell diagonals (a
1-Lipschitz SDF cannot reach zero inside a cell whose corners are all farther than its
diagonal). Points of pruned cells get the trilinear interpolation of the coarser level,
which keeps their sign, so marching cubes on the result equals marching cubes on the
dense grid wherever the SDF is Lipschitz with constant at most ``margin``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

SDFFunction = Callable[[torch.Tensor], torch.Tensor]
Bounds = tuple[Sequence[float], Sequence[float]]


@dataclass
class SDFGrid:
    """SDF values on an ``N^3`` lattice spanning ``bounds`` (corners included)."""

    values: np.ndarray  # float32 (N, N, N), indexed [x, y, z]
    bounds: tuple[np.ndarray, np.ndarray]  # (min xyz, max xyz)
    num_queries: int  # how many points the SDF function was asked for

    @property
    def resolution(self) -> int:
        return int(self.values.shape[0])

    @property
    def spacing(self) -> np.ndarray:
        lo, hi = self.bounds
        return (hi - lo) / (self.resolution - 1)


def _normalise_bounds(bounds: Bounds | float) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(bounds, (int, float)):
        lo, hi = -float(bounds), float(bounds)
        return np.full(3, lo, np.float64), np.full(3, hi, np.float64)
    lo = np.broadcast_to(np.asarray(bounds[0], np.float64), (3,)).copy()
    hi = np.broadcast_to(np.asarray(bounds[1], np.float64), (3,)).copy()
    if np.any(hi <= lo):
        raise ValueError(f"grid bounds must satisfy min < max on every axis, got {lo} and {hi}")
    return lo, hi


def grid_points(resolution: int, bounds: Bounds | float = 1.0) -> np.ndarray:
    """All lattice points, shape (N^3, 3), in the [x, y, z] index order of ``SDFGrid.values``."""
    lo, hi = _normalise_bounds(bounds)
    axes = [np.linspace(lo[d], hi[d], resolution, dtype=np.float64) for d in range(3)]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    return mesh.reshape(-1, 3).astype(np.float32)


def _query(
    sdf_fn: SDFFunction, points: torch.Tensor, batch_size: int, autocast: bool
) -> torch.Tensor:
    out = torch.empty(points.shape[0], dtype=torch.float32, device=points.device)
    use_amp = autocast and points.device.type == "cuda"
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
        for start in range(0, points.shape[0], batch_size):
            chunk = points[start : start + batch_size]
            out[start : start + chunk.shape[0]] = sdf_fn(chunk).reshape(-1).float()
    return out


def _lattice_coords(shape: tuple[int, int, int], stride: int, lo: torch.Tensor, h: torch.Tensor):
    """World coordinates of a stride-``stride`` lattice of the fine grid."""
    axes = [lo[d] + h[d] * stride * torch.arange(shape[d], device=lo.device) for d in range(3)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def evaluate_sdf_grid(
    sdf_fn: SDFFunction,
    resolution: int,
    bounds: Bounds | float = 1.0,
    *,
    coarse_to_fine: bool = True,
    coarse_stride: int | None = None,
    margin: float = 1.0,
    batch_size: int = 262144,
    device: torch.device | str | None = None,
    autocast: bool = True,
) -> SDFGrid:
    """Evaluate ``sdf_fn`` (points (B, 3) -> SDF (B,)) on an ``resolution^3`` grid.

    ``coarse_to_fine=False`` queries every point (the reference). ``coarse_stride`` (a power
    of two) sets the first lattice; by default it keeps that lattice near 16-32 points a side.
    ``margin`` is the Lipschitz safety factor of the pruning test (raise it for SDFs that
    are steeper than a true distance). On CUDA the queries run under fp16 autocast.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    lo_np, hi_np = _normalise_bounds(bounds)
    device = torch.device(device) if device is not None else torch.device("cpu")
    lo = torch.as_tensor(lo_np, dtype=torch.float32, device=device)
    h = torch.as_tensor((hi_np - lo_np) / (resolution - 1), dtype=torch.float32, device=device)

    if not coarse_to_fine:
        pts = _lattice_coords((resolution,) * 3, 1, lo, h).reshape(-1, 3)
        values = _query(sdf_fn, pts, batch_size, autocast).reshape((resolution,) * 3)
        return SDFGrid(values.cpu().numpy(), (lo_np, hi_np), int(pts.shape[0]))

    if coarse_stride is None:
        coarse_stride = 1 << max(0, int(math.log2(max(1, (resolution - 1) // 16))))
    if coarse_stride < 1 or coarse_stride & (coarse_stride - 1):
        raise ValueError(f"coarse_stride must be a power of two, got {coarse_stride}")

    # Pad the lattice so that every level is uniform; the padding is cropped at the end.
    cells = coarse_stride * math.ceil((resolution - 1) / coarse_stride)
    n = cells // coarse_stride + 1
    pts = _lattice_coords((n, n, n), coarse_stride, lo, h).reshape(-1, 3)
    values = _query(sdf_fn, pts, batch_size, autocast).reshape(n, n, n)
    num_queries = int(pts.shape[0])
    cell_diag = float(torch.linalg.norm(h))

    stride = coarse_stride
    while stride > 1:
        v = values[None, None]
        corner_min = -F.max_pool3d(-v.abs(), kernel_size=2, stride=1)
        corner_max = F.max_pool3d(v, kernel_size=2, stride=1)
        corner_lo = -F.max_pool3d(-v, kernel_size=2, stride=1)
        mixed = (corner_max > 0) & (corner_lo <= 0)
        active = mixed | (corner_min <= margin * cell_diag * stride)  # (1,1,n-1,n-1,n-1)

        stride //= 2
        m = 2 * (n - 1) + 1
        finer = F.interpolate(v, size=(m, m, m), mode="trilinear", align_corners=True)[0, 0]
        # A fine point needs a query when it touches an active coarse cell and is new.
        fine_cells = active.float().repeat_interleave(2, 2).repeat_interleave(2, 3)
        fine_cells = fine_cells.repeat_interleave(2, 4)
        touched = F.max_pool3d(fine_cells, kernel_size=2, stride=1, padding=1)[0, 0] > 0
        touched[::2, ::2, ::2] = False
        idx = touched.nonzero()
        if idx.shape[0]:
            coords = lo + idx.to(torch.float32) * (h * stride)
            finer[idx[:, 0], idx[:, 1], idx[:, 2]] = _query(sdf_fn, coords, batch_size, autocast)
            num_queries += int(idx.shape[0])
        values, n = finer, m

    values = values[:resolution, :resolution, :resolution].contiguous()
    return SDFGrid(values.cpu().numpy(), (lo_np, hi_np), num_queries)
