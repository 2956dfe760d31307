"""Evaluate a signed distance function on a regular grid, coarse to fine.

Meshing cost is the number of SDF queries. A dense N^3 grid queries every point; most are
far from the surface and only their sign matters. Here a coarse lattice is evaluated
first and each level refines only the cells that may hold surface.

Certificates. If the SDF is ``margin``-Lipschitz, the ball ``B(p, |f(p)| / margin)`` holds
no zero, so every point in it has the sign of ``f(p)``. A cell is *certified empty* when
its known values share one strict sign and their balls cover it. Per cell, cheapest
first: one corner's ball alone, all eight corners' balls; then one query at the centre
and, per child (the eighth of the cell between a corner and the centre), the two balls at
the child's opposite corners (an exact test for cubes). A centre query is never wasted:
if the cell stays open the centre is a corner of its children. Only uncertified children
become cells of the next level, and only their corners are evaluated.

Fewer queries. A new point next to a value whose ball reaches it takes a signed lower
bound ``|f| >= |f(q)| - margin h`` instead of a query (bounds are balls too). Marching
cubes reads signs everywhere but values only at both ends of edges that change sign, so
on the finest level the bounded points next to the other sign are queried after all.
Points of certified cells copy the nearest coarser lattice point that is a corner of every
cell holding them, which has their sign. So marching cubes sees the same signs
everywhere, and the same values on every crossing edge, as on the dense grid: the meshes
are identical wherever the SDF is ``margin``-Lipschitz.

Clamped networks. Networks trained on clamped SDFs (DeepSDF, DIT) give distances only
within the clamp; far away their values mean "at least the clamp" and can be arbitrarily
steep. Pass the clamp as ``truncation``: values are clipped to it before every test
(clipping keeps the zero set and is Lipschitz wherever the field was within the band),
and the first lattice is made fine enough that clipped values can certify its cells.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .batching import cpu_workers, query_sdf

SDFFunction = Callable[[torch.Tensor], torch.Tensor]
Bounds = tuple[Sequence[float], Sequence[float]]

_CORNERS = np.array(list(itertools.product((0, 1), repeat=3)), dtype=np.int64)


@dataclass
class SDFGrid:
    """SDF values on an ``N^3`` lattice spanning ``bounds`` (corners included).

    After coarse-to-fine evaluation, points in certified-empty regions hold a stand-in with
    the right sign (a copied coarser value, or a lower bound of ``|SDF|``), not their SDF.
    """

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

    @property
    def dense_queries(self) -> int:
        """Queries a dense evaluation of the same grid makes, for comparison."""
        return self.resolution**3


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


def bcc_covering_radius(side: Sequence[float]) -> float:
    """Largest distance from a point of a box to the nearest of its 8 corners and its centre.

    Per octant the nearest corner is the octant's own, so the answer is the maximum of
    ``min(|p|, |p - half|)`` over the box ``[0, half]``; that function is the smaller of
    two convex ones, so the maximum is at a vertex of the box or where the bisecting plane
    meets an edge. For a cube of side ``a`` it is ``a sqrt(5) / 4``.
    """
    half = np.asarray(side, np.float64) / 2.0
    normal, offset = 2.0 * half, float(half @ half)  # plane: normal . p = offset
    candidates = [np.array(v, np.float64) * half for v in itertools.product((0, 1), repeat=3)]
    for axis in range(3):
        others = [d for d in range(3) if d != axis]
        for bits in itertools.product((0, 1), repeat=2):
            p = np.zeros(3)
            p[others] = np.array(bits) * half[others]
            rest = offset - normal[others] @ p[others]
            if normal[axis] > 0 and 0.0 <= rest / normal[axis] <= half[axis]:
                p[axis] = rest / normal[axis]
                candidates.append(p)
    return float(max(min(np.linalg.norm(p), np.linalg.norm(p - half)) for p in candidates))


def _two_balls_cover(r1: torch.Tensor, r2: torch.Tensor, side: np.ndarray) -> torch.Tensor:
    """Whether balls of radii ``r1``, ``r2`` at two opposite corners of a box cover it.

    For a cube (side ``a``) exactly: the box points outside the first ball lie within
    ``a f(r1 / a)`` of the opposite corner, where ``f(t)^2 = t^2 - 2 s(t) + 3`` and ``s(t)``
    is the smallest coordinate sum on the sphere of radius ``t`` inside the unit cube. For
    other boxes, conservatively: both radii above the box's two-corner covering radius.
    """
    if np.ptp(side) > 1e-9 * float(side.max()):
        return torch.minimum(r1, r2) > bcc_covering_radius(2.0 * side)
    a = float(side[0])
    t = (r1 / a).clamp(0.0, math.sqrt(3.0))
    s = torch.where(
        t <= 1.0,
        t,
        torch.where(t <= math.sqrt(2.0), 1.0 + (t * t - 1.0).clamp_min(0).sqrt(), 2.0 + (t * t - 2.0).clamp_min(0).sqrt()),
    )
    reach = (t * t - 2.0 * s + 3.0).clamp_min(0).sqrt() * a
    return r2 > reach


def _expand(values: torch.Tensor) -> torch.Tensor:
    """Next level's lattice (2n - 1 a side); new points copy the lattice point at ``index // 2``."""
    n = values.shape[0]
    out = torch.empty((2 * n - 1,) * 3, dtype=values.dtype, device=values.device)
    for offset in itertools.product((0, 1), repeat=3):
        src = values[tuple(slice(0, n - o) for o in offset)]
        out[tuple(slice(o, None, 2) for o in offset)] = src
    return out


# What a grid value is: a stand-in copied from a coarser point, a signed bound of |SDF|, or queried.
STAND_IN, BOUND, QUERIED = 0, 1, 2


def _expand_state(state: torch.Tensor) -> torch.Tensor:
    """Next level's value states: only the old lattice points (even indices) carry over."""
    n = state.shape[0]
    out = torch.zeros((2 * n - 1,) * 3, dtype=state.dtype, device=state.device)
    out[::2, ::2, ::2] = state
    return out


def _linear(idx: torch.Tensor, n: int) -> torch.Tensor:
    return (idx[..., 0] * n + idx[..., 1]) * n + idx[..., 2]


def _corner_offsets(n: int, device: torch.device) -> torch.Tensor:
    """Flat-index offsets of a cell's 8 corners from its lowest one, on an ``n^3`` lattice."""
    return _linear(torch.as_tensor(_CORNERS, device=device), n)


def _unravel(flat: torch.Tensor, n: int) -> torch.Tensor:
    return torch.stack([flat // (n * n), (flat // n) % n, flat % n], dim=1)


def _axis_neighbours(lin: torch.Tensor, idx: torch.Tensor, n: int):
    """For each axis and direction: (axis, neighbours' flat indices, inside the lattice)."""
    for axis, stride in enumerate((n * n, n, 1)):
        for step in (-1, 1):
            inside = (idx[:, axis] > 0) if step < 0 else (idx[:, axis] < n - 1)
            yield axis, torch.where(inside, lin + step * stride, lin), inside


def _bound_from_neighbours(
    flat: torch.Tensor,
    state: torch.Tensor,
    lin: torch.Tensor,
    idx: torch.Tensor,
    n: int,
    clip: Callable[[torch.Tensor], torch.Tensor],
    margin: float,
    spacing: np.ndarray,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed lower bounds ``|f| >= |v| - margin h`` from axis neighbours whose ball reaches.

    Returns (value, settled): points no neighbour settles, or that two settle with
    opposite signs (the field is steeper than ``margin`` there), must be queried.
    """
    best = torch.zeros(lin.shape[0], dtype=flat.dtype, device=flat.device)
    sign = torch.zeros_like(best)
    conflict = torch.zeros(lin.shape[0], dtype=torch.bool, device=flat.device)
    for axis, near, inside in _axis_neighbours(lin, idx, n):
        v = flat[near]
        bound = clip(v).abs() - margin * float(spacing[axis])
        ok = inside & (state[near] != STAND_IN) & (bound > 0)
        s = torch.sign(v)
        conflict |= ok & (sign != 0) & (sign != s)
        better = ok & (bound > best)
        best = torch.where(better, bound, best)
        sign = torch.where(better, s, sign)
    settled = (sign != 0) & ~conflict
    return sign * best, settled


def _crossing(flat: torch.Tensor, lin: torch.Tensor, idx: torch.Tensor, n: int) -> torch.Tensor:
    """Whether each point has an axis neighbour on the other side of the level."""
    side = flat[lin] < 0
    out = torch.zeros(lin.shape[0], dtype=torch.bool, device=flat.device)
    for _, near, inside in _axis_neighbours(lin, idx, n):
        out |= inside & ((flat[near] < 0) != side)
    return out


def default_coarse_stride(
    resolution: int, spacing: np.ndarray, margin: float, truncation: float | None
) -> int:
    """About 12-24 cells a side, and no coarser than truncated values can certify."""
    stride = 1 << max(0, int(math.log2(max(1.0, (resolution - 1) / 12.0))))
    if truncation is not None:
        while stride > 1 and margin * bcc_covering_radius(spacing * stride) >= truncation:
            stride //= 2
    return stride


def evaluate_sdf_grid(
    sdf_fn: SDFFunction,
    resolution: int,
    bounds: Bounds | float = 1.0,
    *,
    coarse_to_fine: bool = True,
    coarse_stride: int | None = None,
    margin: float = 1.0,
    truncation: float | None = None,
    batch_size: int = 262144,
    device: torch.device | str | None = None,
    autocast: bool = True,
    workers: int | None = None,
) -> SDFGrid:
    """Evaluate ``sdf_fn`` (points (B, 3) -> SDF (B,)) on an ``resolution^3`` grid.

    ``coarse_to_fine=False`` queries every point (the reference). ``coarse_stride`` (a power
    of two) sets the first lattice; by default 12-24 cells a side. ``margin`` is the
    Lipschitz bound the pruning trusts (raise it for SDFs steeper than a true distance);
    ``truncation`` is the clamp of a network trained on clamped SDFs (see the module doc).
    On CUDA the queries run under fp16 autocast. On a CPU, ``workers`` threads share the
    queries while PyTorch runs single-threaded (see ``batching.py``); ``sdf_fn`` must then be
    thread-safe. ``None`` keeps PyTorch's own threading.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    with cpu_workers(device, workers) as n_workers:
        return _evaluate(
            sdf_fn, resolution, bounds, coarse_to_fine, coarse_stride, margin, truncation,
            batch_size, device, autocast, n_workers,
        )


def _evaluate(
    sdf_fn: SDFFunction,
    resolution: int,
    bounds: Bounds | float,
    coarse_to_fine: bool,
    coarse_stride: int | None,
    margin: float,
    truncation: float | None,
    batch_size: int,
    device: torch.device,
    autocast: bool,
    workers: int,
) -> SDFGrid:
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    if margin <= 0:
        raise ValueError(f"margin must be positive, got {margin}")
    if truncation is not None and truncation <= 0:
        raise ValueError(f"truncation must be positive, got {truncation}")
    lo_np, hi_np = _normalise_bounds(bounds)
    h_np = (hi_np - lo_np) / (resolution - 1)
    lo = torch.as_tensor(lo_np, dtype=torch.float32, device=device)
    h = torch.as_tensor(h_np, dtype=torch.float32, device=device)

    def query(idx: torch.Tensor, stride: int) -> torch.Tensor:
        return query_sdf(sdf_fn, lo + idx.to(torch.float32) * (h * stride), batch_size, autocast, workers)

    if not coarse_to_fine:
        axes = [torch.arange(resolution, device=device)] * 3
        idx = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
        values = query(idx, 1).reshape((resolution,) * 3)
        return SDFGrid(values.cpu().numpy(), (lo_np, hi_np), int(idx.shape[0]))

    if coarse_stride is None:
        coarse_stride = default_coarse_stride(resolution, h_np, margin, truncation)
    if coarse_stride < 1 or coarse_stride & (coarse_stride - 1):
        raise ValueError(f"coarse_stride must be a power of two, got {coarse_stride}")
    clip = (lambda v: v.clamp(-truncation, truncation)) if truncation is not None else (lambda v: v)
    corners = torch.as_tensor(_CORNERS, device=device)

    # Pad the lattice so that every level is uniform; the padding is cropped at the end.
    stride = coarse_stride
    n = math.ceil((resolution - 1) / stride) + 1
    axes = [torch.arange(n, device=device)] * 3
    cand = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
    values = query(cand, stride).reshape(n, n, n)
    state = torch.full((n, n, n), QUERIED, dtype=torch.uint8, device=device)
    num_queries = int(cand.shape[0])
    cand = cand[(cand < n - 1).all(1)]  # cells whose corners are all known, named by their lowest corner

    while stride > 1:
        side = h_np * stride
        diag = float(np.linalg.norm(side))
        cand_lin = _linear(cand, n)
        corner_vals = values.view(-1)[cand_lin[:, None] + _corner_offsets(n, device)]  # (k, 8)
        radius = clip(corner_vals).abs() / margin  # balls free of zeros
        positive = (corner_vals > 0).all(1)
        same = positive | (corner_vals < 0).all(1)
        certified = same & ((radius.amax(1) > diag) | (radius.amin(1) > diag / 2))

        # Every cell left needs its centre: to certify its children, or as their corner.
        open_ = (~certified).nonzero().squeeze(1)
        centre_idx = 2 * cand[open_] + 1
        centre_vals = query(centre_idx, stride // 2)
        num_queries += int(open_.shape[0])

        # Child j of a cell spans from corner j to the centre; it is empty when it has one
        # sign there and the two balls (or either alone) cover it.
        v, c = corner_vals[open_], centre_vals[:, None]
        r, rc = radius[open_], clip(c).abs() / margin
        child_same = ((v > 0) & (c > 0)) | ((v < 0) & (c < 0))
        child_cover = (r > diag / 2) | (rc > diag / 2) | _two_balls_cover(r, rc, side / 2)
        open_child = ~(child_same & child_cover)  # (k_open, 8)

        stride //= 2
        n_next = 2 * n - 1
        values, state = _expand(values), _expand_state(state)
        flat, flat_state = values.view(-1), state.view(-1)
        centre_lin = _linear(centre_idx, n_next)
        flat[centre_lin] = centre_vals
        flat_state[centre_lin] = QUERIED
        cand = (2 * cand[open_][:, None, :] + corners)[open_child]
        needs = torch.zeros(n_next**3, dtype=torch.bool, device=device)
        needs[(_linear(cand, n_next)[:, None] + _corner_offsets(n_next, device)).reshape(-1)] = True
        corner_set = needs.nonzero().squeeze(1)
        n = n_next
        # New points are edge midpoints (one odd index) or face centres (two): edges first, so
        # that their values can bound the faces. A point next to a value whose ball reaches it
        # gets a signed bound instead of a query.
        fresh = corner_set[flat_state[corner_set] == STAND_IN]
        fresh_idx = _unravel(fresh, n)
        odd = (fresh_idx % 2).sum(1)
        for kind in (1, 2):
            group, group_idx = fresh[odd == kind], fresh_idx[odd == kind]
            bound, settled = _bound_from_neighbours(flat, flat_state, group, group_idx, n, clip, margin, h_np * stride)
            ask = group[~settled]
            flat[ask] = query(group_idx[~settled], stride)
            flat_state[ask] = QUERIED
            flat[group[settled]] = bound[settled]
            flat_state[group[settled]] = BOUND
            num_queries += int(ask.shape[0])
        if stride == 1:
            # Marching cubes reads values only at the ends of edges that change sign: a
            # bounded point there is queried after all (its sign cannot change).
            loose = corner_set[flat_state[corner_set] != QUERIED]
            loose_idx = _unravel(loose, n)
            crossing = _crossing(flat, loose, loose_idx, n)
            flat[loose[crossing]] = query(loose_idx[crossing], 1)
            num_queries += int(crossing.sum())

    # A view of the padded lattice: no copy of what may be a 256^3 array.
    return SDFGrid(values.cpu().numpy()[:resolution, :resolution, :resolution], (lo_np, hi_np), num_queries)
