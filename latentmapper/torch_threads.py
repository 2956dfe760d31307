"""PyTorch's thread count lowered to one while any caller needs it, safe across threads.

Why: the pipeline's small encoders and the SDF workers run PyTorch single-threaded on a CPU
(see ``geometry.batching``), and PyTorch's thread count is global to the process. With a
save-set-restore per call, two overlapping calls (a Gradio queue serving two requests) could
restore in the wrong order and leave the process on one thread for good. Here the first
caller in saves the count and the last one out restores it.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import torch

_lock = threading.Lock()
_users = 0
_saved = 1


@contextlib.contextmanager
def single_torch_thread() -> Iterator[None]:
    """Run the body with ``torch.get_num_threads() == 1``; the count is restored when the last user leaves."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                torch.set_num_threads(_saved)


__all__ = ["single_torch_thread"]
