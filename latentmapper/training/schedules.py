"""Learning-rate schedules as functions of the step alone, so that a resumed run picks up the same rate."""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, base: float, warmup: int, final_fraction: float = 0.1) -> float:
    """Linear warm-up, then cosine decay to ``final_fraction * base``."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


def constant_then_linear(step: int, total: int, base: float, decay_start: float = 0.5) -> float:
    """CycleGAN's schedule: constant, then linear to zero from ``decay_start`` of the run."""
    start = int(total * decay_start)
    if step < start:
        return base
    return base * max(0.0, 1.0 - (step - start) / max(1, total - start))


__all__ = ["constant_then_linear", "warmup_cosine"]
