"""Shuffled index batches that a resumed run draws again exactly."""

from __future__ import annotations

import torch
from accelerate import Accelerator


def epoch_batches(count: int, batch_size: int, *, seed: int, epoch: int, accelerator: Accelerator | None = None,
                  drop_last: bool = False) -> list[torch.Tensor]:
    """Shuffled index batches for one epoch, seeded by (seed, epoch); each process takes its share."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    batches = [order[i : i + batch_size] for i in range(0, count, batch_size)]
    if drop_last and len(batches) > 1 and len(batches[-1]) < batch_size:
        batches = batches[:-1]
    if accelerator is not None and accelerator.num_processes > 1:
        batches = [b[accelerator.process_index :: accelerator.num_processes] for b in batches]
    return batches


__all__ = ["epoch_batches"]
