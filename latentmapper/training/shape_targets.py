"""Per-shape regression targets for the CLIP's shape term: each numeric generator parameter of the shape,
minus its family's mean, in units of that parameter's within-family spread.

Captions name the family and colour, which many shapes share; these targets are what tells two shapes of
one family apart (their proportions), so a head reading them off the image embedding asks the encoder to
keep exactly what identification needs. Parameters are per category (cars and airplanes have different
ones), so the target is the union of the columns with a mask of which apply to each shape.
"""

from __future__ import annotations

import json
from typing import Sequence

import torch

from latentmapper.evaluation.params_ceiling import parameter_columns


def within_family_targets(params: Sequence[str | dict], categories: Sequence[str], families: Sequence[str],
                          reference: Sequence[bool] | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(targets (N, D), mask (N, D) bool, column names "category/parameter") for N shapes.

    Family means and spreads come from the ``reference`` shapes (all of them by default), so validation
    shapes can be scored in the training shapes' units without their own statistics leaking in.
    """
    if not (len(params) == len(categories) == len(families)):
        raise ValueError(f"{len(params)} parameter sets, {len(categories)} categories, {len(families)} families")
    rows = [json.loads(p) if isinstance(p, str) else dict(p) for p in params]
    reference = [True] * len(rows) if reference is None else list(reference)
    columns, blocks = [], []
    for category in sorted(set(categories)):
        members = [i for i, c in enumerate(categories) if c == category]
        numeric, _ = parameter_columns([rows[i] for i in members])
        values = torch.tensor([[float(rows[i][k]) for k in numeric] for i in members], dtype=torch.float64)
        known = torch.tensor([reference[i] for i in members])
        if not known.any():
            raise ValueError(f"no reference shapes of category {category!r}")
        residual = values.clone()
        for family in {families[i] for i in members}:
            rows_of = torch.tensor([families[i] == family for i in members])
            if not (rows_of & known).any():
                raise ValueError(f"no reference shapes of family {family!r} ({category})")
            residual[rows_of] -= values[rows_of & known].mean(0)
        spread = residual[known].std(0)
        keep = spread > 1e-8  # a parameter fixed within every family tells no two shapes apart
        blocks.append((members, residual[:, keep] / spread[keep]))
        columns += [f"{category}/{k}" for k, kept in zip(numeric, keep.tolist()) if kept]
    targets = torch.zeros(len(rows), len(columns))
    mask = torch.zeros(len(rows), len(columns), dtype=torch.bool)
    start = 0
    for members, block in blocks:
        index = torch.tensor(members)
        targets[index, start:start + block.shape[1]] = block.float()
        mask[index, start:start + block.shape[1]] = True
        start += block.shape[1]
    return targets, mask, columns


def masked_mse(predicted: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the entries that apply."""
    weight = mask.to(predicted.dtype)
    return ((predicted - targets) ** 2 * weight).sum() / weight.sum().clamp_min(1.0)


__all__ = ["masked_mse", "within_family_targets"]
