"""What every procedural family shares: the shape object, its assembly, parameter drawing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..sdf_ops import SDF

BOUNDS_PADDING = 0.03  # absolute padding added around a shape's analytic box
SNAP = 1e-5  # |sdf| below this is reported as +SNAP (see ProceduralShape.sdf)


@dataclass(eq=False)
class ProceduralShape:
    """A procedurally generated object: an SDF made of named parts, plus colours and a caption.

    ``parts`` (one SDF node per entry of ``part_names``; None for a part the shape lacks) are
    built in a design frame (cars stand on y = 0) and evaluated at ``points + center``, which
    puts the object around the origin. The shape's SDF is the minimum over its parts; a
    point's label is the part that attains it. ``bounds`` and ``center`` are in that frame.
    """

    category: str
    subtype: str
    seed: int
    params: dict
    part_names: tuple[str, ...]
    part_colors: np.ndarray
    caption: str
    bounds: tuple[np.ndarray, np.ndarray]
    parts: tuple[SDF | None, ...] = field(default=(), repr=False)
    center: np.ndarray = field(default_factory=lambda: np.zeros(3), repr=False)

    def _columns(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        points = torch.as_tensor(points)
        if points.ndim != 2 or points.shape[-1] != 3:
            raise ValueError(f"points must have shape (B, 3), got {tuple(points.shape)}")
        points = points.to(torch.float32)
        # Fresh coordinate columns for every call: nodes shared between parts cache on them.
        x, y, z = (points[:, i] + float(self.center[i]) for i in range(3))
        return x, y, z

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance (B,) at ``points`` (B, 3), negative inside; a lower bound far away."""
        x, y, z = self._columns(points)
        d = None
        for part in self.parts:
            if part is not None:
                d = part.columns(x, y, z) if d is None else torch.minimum(d, part.columns(x, y, z))
        # Flat faces of these shapes can fall exactly on grid planes; values within SNAP of 0
        # would put marching-cubes vertices on lattice points and give degenerate triangles.
        return torch.where(d.abs() < SNAP, SNAP, d)

    def part_labels(self, points: torch.Tensor) -> torch.Tensor:
        """Index into ``part_names`` (B,) int64 of the part whose SDF is smallest at each point."""
        x, y, z = self._columns(points)
        present = [i for i, part in enumerate(self.parts) if part is not None]
        values = torch.stack([self.parts[i].columns(x, y, z) for i in present])
        index = torch.as_tensor(present, dtype=torch.int64, device=values.device)
        return index[values.argmin(dim=0)]


def assemble(
    category: str,
    params: dict,
    part_names: tuple[str, ...],
    parts: dict[str, SDF],
    colors: dict[str, tuple[int, int, int]],
    caption: str,
) -> ProceduralShape:
    """Centre the parts' joint box on the origin and package everything as a shape."""
    unknown = set(parts) - set(part_names)
    if unknown:
        raise ValueError(f"parts {sorted(unknown)} are not among {part_names}")
    nodes = tuple(parts.get(name) for name in part_names)
    los, his = zip(*(node.bounds() for node in nodes if node is not None))
    lo, hi = np.min(los, axis=0), np.max(his, axis=0)
    center = (lo + hi) / 2.0
    center[0] = 0.0  # keep the mirror plane at x = 0
    pad = BOUNDS_PADDING + 0.01 * float((hi - lo).max())
    bounds = ((lo - center - pad).astype(np.float32), (hi - center + pad).astype(np.float32))
    table = np.array([colors.get(name, (128, 128, 128)) for name in part_names], dtype=np.uint8)
    return ProceduralShape(
        category=category,
        subtype=str(params["subtype"]),
        seed=int(params["seed"]),
        params=params,
        part_names=part_names,
        part_colors=table,
        caption=caption,
        bounds=bounds,
        parts=nodes,
        center=center,
    )


class Params:
    """Draws named parameters from a seeded generator into a JSON-ready dict (plain floats)."""

    def __init__(self, rng: np.random.Generator, params: dict):
        self.rng, self.params = rng, params

    def uniform(self, name: str, lo: float, hi: float, digits: int = 4) -> float:
        value = round(float(self.rng.uniform(lo, hi)), digits)
        self.params[name] = value
        return value

    def choice(self, name: str, options, weights=None):
        weights = None if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
        value = options[int(self.rng.choice(len(options), p=weights))]
        self.params[name] = value
        return value

    def flag(self, name: str, probability: float) -> bool:
        value = bool(self.rng.random() < probability)
        self.params[name] = value
        return value

    def set(self, name: str, value):
        self.params[name] = value
        return value
