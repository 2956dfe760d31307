"""Evaluate an SDF function on many points: in batches, under fp16 autocast on CUDA, in parallel on a CPU.

Why worker threads on a CPU: PyTorch splits each operation over its OpenMP threads, and
every operation ends at a barrier. On a small CPU shared with other processes one of
those threads is often descheduled while the rest wait: measured here, a decoder and the
grid bookkeeping ran 2-7x slower on 2 threads than on 1 whenever other jobs were busy.
So, when asked for workers, CPU work runs single-threaded (``cpu_workers``) and the
queries are split into independent chunks on that many threads, which never wait for
each other: both cores of an idle machine are used, and a busy one costs no more than
one core. Operations release the GIL, so Python threads suffice. The SDF function must
then be thread-safe: ``DITDecoder.sdf_fn`` is; a function that caches its last input is
not, so workers are opt-in.
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import torch

from ..torch_threads import single_torch_thread

SDFFunction = Callable[[torch.Tensor], torch.Tensor]


def auto_workers() -> int:
    """As many workers as PyTorch would use threads (the cores it sees)."""
    return max(1, torch.get_num_threads())


@contextlib.contextmanager
def cpu_workers(device: torch.device, workers: int | None) -> Iterator[int]:
    """Yield how many query workers to use; with workers on a CPU, PyTorch runs single-threaded.

    ``workers=None`` (or an accelerator) yields 1 and changes nothing: queries run in the
    calling thread with PyTorch's own threading. The thread count is restored when the last
    overlapping caller leaves (``torch_threads``).
    """
    if device.type != "cpu" or workers is None:
        yield 1
        return
    with single_torch_thread():
        yield max(1, workers)


def query_sdf(
    sdf_fn: SDFFunction,
    points: torch.Tensor,
    batch_size: int = 262144,
    autocast: bool = True,
    workers: int = 1,
    chunk_size: int = 8192,
    min_chunk: int = 512,
) -> torch.Tensor:
    """``sdf_fn`` at ``points`` (B, 3) as float32 (B,), without autograd.

    At most ``batch_size`` points go to one call. On a CPU with ``workers`` > 1, chunks of at
    most ``chunk_size`` (at least ``min_chunk``) points run on that many threads (call
    inside ``cpu_workers``).
    """
    count = points.shape[0]
    out = torch.empty(count, dtype=torch.float32, device=points.device)
    use_amp = autocast and points.device.type == "cuda"

    def run(span: tuple[int, int]) -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            out[span[0] : span[1]] = sdf_fn(points[span[0] : span[1]]).reshape(-1).float()

    parallel = points.device.type == "cpu" and workers > 1 and count >= 2 * min_chunk
    if parallel:  # balanced chunks, so that small batches use every worker too
        step = max(min_chunk, min(chunk_size, batch_size, math.ceil(count / workers)))
    else:
        step = batch_size
    spans = [(s, min(s + step, count)) for s in range(0, count, step)]
    if not parallel:
        for span in spans:
            run(span)
        return out

    def work(span: tuple[int, int]) -> None:
        torch.set_num_threads(1)  # a fresh thread would otherwise start OpenMP with all cores
        run(span)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(work, spans):
            pass
    return out
