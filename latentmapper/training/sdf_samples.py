"""The SDF samples a DIT trains on, and the per-shape draws of each step.

DeepSDF's recipe: each step draws a fresh subset of every shape's samples, half inside and
half outside the surface, optionally with a fixed share from far outside.
"""

from __future__ import annotations

import numpy as np
import torch


def load_training_shapes(dataset_dir: str, max_shapes: int | None = None) -> tuple[list[str], list[torch.Tensor]]:
    """Shape ids and (N, 4) float32 SDF samples of the ``train`` split."""
    import datasets

    split = datasets.load_from_disk(dataset_dir)["train"].select_columns(["shape_id", "sdf_samples"])
    if max_shapes is not None:
        split = split.select(range(min(max_shapes, len(split))))
    if len(split) == 0:
        raise SystemExit(f"the train split of {dataset_dir} is empty")
    split = split.with_format("numpy")
    ids = [str(s) for s in split["shape_id"]]
    if len(set(ids)) != len(ids):
        raise SystemExit("shape_id values in the train split are not unique")
    samples = []
    for sid, rows in zip(ids, split["sdf_samples"]):
        arr = torch.from_numpy(np.asarray(rows, dtype=np.float32).reshape(-1, 4).copy())
        if arr.shape[0] == 0:
            raise SystemExit(f"shape {sid} has no SDF samples")
        samples.append(arr)
    return ids, samples


class SampleDrawer:
    """Per-shape random subsets of SDF samples: half inside and half outside when asked, and
    optionally a fixed share from far outside.

    ``far_fraction`` of each draw comes from samples farther than ``far_distance`` (the SDF
    clamp) outside the surface, where the loss only teaches the sign. Near-surface samples
    dominate the data, so without this share a decoder sees few far points per step and can
    invent surface there: thin airplanes decoded with wings running on to the grid bounds.
    """

    def __init__(
        self, samples: list[torch.Tensor], count: int, balanced: bool, far_fraction: float = 0.0, far_distance: float = 0.1
    ) -> None:
        if not 0.0 <= far_fraction < 1.0:
            raise ValueError(f"far_fraction must be in [0, 1), got {far_fraction}")
        self.samples, self.count, self.balanced = samples, count, balanced
        self.num_far = int(round(count * far_fraction))
        self.inside = [torch.nonzero(s[:, 3] < 0).squeeze(1) for s in samples]
        self.outside = [torch.nonzero(s[:, 3] >= 0).squeeze(1) for s in samples]
        self.far = [torch.nonzero(s[:, 3] > far_distance).squeeze(1) for s in samples]

    def draw(self, shape: int, gen: torch.Generator) -> torch.Tensor:
        data = self.samples[shape]
        inside, outside, far = self.inside[shape], self.outside[shape], self.far[shape]
        num_far = self.num_far if len(far) else 0
        count = self.count - num_far
        if self.balanced and len(inside) and len(outside):
            half = count // 2
            parts = [
                inside[torch.randint(len(inside), (half,), generator=gen)],
                outside[torch.randint(len(outside), (count - half,), generator=gen)],
            ]
        else:
            parts = [torch.randint(len(data), (count,), generator=gen)]
        if num_far:
            parts.append(far[torch.randint(len(far), (num_far,), generator=gen)])
        pick = torch.cat(parts)
        pick = pick[torch.randperm(self.count, generator=gen)]  # the pair term pairs a prefix
        return data[pick]


__all__ = ["SampleDrawer", "load_training_shapes"]
