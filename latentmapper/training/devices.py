"""The Accelerator a stage trains with, chosen by its preset."""

from __future__ import annotations

import torch
from accelerate import Accelerator


def make_accelerator(config: dict) -> Accelerator:
    """CPU for the cpu preset (``"device": "cpu"``); otherwise the best device, with the preset's precision.

    ``"num_threads"`` caps PyTorch's CPU threads: on a small machine shared with other jobs,
    one thread is often several times faster than two fighting for the same cores.
    """
    if config.get("num_threads"):
        torch.set_num_threads(int(config["num_threads"]))
    cpu = config.get("device") == "cpu" or not torch.cuda.is_available()
    precision = "no" if cpu else config.get("mixed_precision", "no")
    return Accelerator(cpu=cpu, mixed_precision=precision)


__all__ = ["make_accelerator"]
