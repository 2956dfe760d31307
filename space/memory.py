"""Keep the Space's resident memory bounded under concurrent requests.

Measured with ``benchmarks/benchmark_space.py --load-test 16`` (16 requests at once, 7000x7000
uploads, photo mode): the largest allocation of a request is the decoded upload itself
(0.15-0.2 GB for 7000x7000, before ``latentmapper.image_io`` reduces it), and two decoded
at once pushed the peak past the 1.2 GB target; so images are read one request at a time
(``INPUT_LOCK``: milliseconds for ordinary uploads). Freed pages stay in glibc's arenas, one
per thread that allocated, and Gradio runs callbacks on many worker threads:
``release_memory()`` after every request hands them back (``malloc_trim``) and
``limit_arenas()`` caps their number. Without these two the load test peaked at 1492 MiB and
kept 1263 MiB afterwards; with them, 1159-1229 MiB and 769-799 MiB (start-up: 0.7 GB).
glibc also raises its mmap threshold after freeing a large mmapped buffer, so that later
decoded images and arrays stay in the arenas once freed; fixing the threshold at 1 MiB
(``limit_arenas``) returns them at once: peak 1004 MiB, 745 MiB afterwards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

INPUT_LOCK = threading.Lock()  # one request at a time decodes (and photo-prepares) its upload
M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3  # glibc's mallopt parameters
ARENAS = 2
MMAP_THRESHOLD = 1 << 20  # bytes


@functools.lru_cache(maxsize=1)
def _libc():
    """glibc, or None elsewhere (musl, macOS, Windows): then both calls below do nothing."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def limit_arenas(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Cap glibc's malloc arenas (as ``MALLOC_ARENA_MAX`` would) and fix its mmap threshold, so that large
    buffers (decoded images, arrays, tensors) go back to the system as soon as they are freed (glibc
    otherwise raises the threshold after the first such free and keeps later ones in its arenas).
    Call it before the server's threads start."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, arenas) and libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold))


def release_memory() -> bool:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``); True when any were."""
    libc = _libc()
    return bool(libc and libc.malloc_trim(0))
