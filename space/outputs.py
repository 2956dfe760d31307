"""Where the Space writes the files it serves: one private temporary folder, pruned as it grows.

Each request writes into its own sub-folder, so concurrent requests never overwrite each
other's meshes; only the newest ``KEEP_REQUESTS`` folders are kept, so a long-running Space
does not fill the disk (Gradio serves its own copies from its cache, which it cleans itself).
"""

from __future__ import annotations

import shutil
import tempfile
import itertools
import threading
import time
import uuid
from pathlib import Path

OUTPUT_DIR = Path(tempfile.mkdtemp(prefix="latentmapper-space-"))
REQUESTS_DIR = OUTPUT_DIR / "requests"  # one sub-folder per request, pruned
STARTUP_DIR = OUTPUT_DIR / "startup"  # what the page shows when it opens, kept
KEEP_REQUESTS = 64
_lock = threading.Lock()
_sequence = itertools.count()


def request_folder(root: Path = REQUESTS_DIR, keep: int = KEEP_REQUESTS) -> Path:
    """A new empty folder under ``root`` for one request's files; the oldest beyond ``keep`` are removed.

    Names start with the creation time in nanoseconds and a sequence number, so they sort in
    creation order (folder mtimes can tie: several folders made within one clock tick)."""
    with _lock:
        folder = root / f"{time.time_ns():020d}-{next(_sequence):08d}-{uuid.uuid4().hex[:12]}"
        folder.mkdir(parents=True)
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        for old in folders[: max(0, len(folders) - keep)]:
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
    return folder
