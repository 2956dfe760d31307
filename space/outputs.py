"""Where the Space writes the files it serves: one private temporary folder, pruned as it grows.

Each request writes into its own sub-folder, so concurrent requests never overwrite each
other's meshes; only the newest ``KEEP_REQUESTS`` folders are kept, so a long-running Space
does not fill the disk (Gradio serves its own copies from its cache, which it cleans itself).

The folder is named after the process (``latentmapper-space-PID-XXXX``) and removed when the
interpreter exits (``atexit``; ``python app.py`` also turns SIGTERM into a normal shutdown).
A folder a killed Space left behind is removed by the next start, once its process is gone.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path

from latentmapper.atomic import owner_alive

PREFIX = "latentmapper-space-"
logger = logging.getLogger(__name__)


def remove_stale_output_dirs(temp_dir: str | os.PathLike | None = None) -> list[Path]:
    """Remove the ``latentmapper-space-PID-*`` folders in ``temp_dir`` whose process is gone; returns them.

    A folder of a live Space, or one that records no process (made before folders were named
    after theirs), is left alone."""
    removed = []
    for folder in sorted(Path(temp_dir or tempfile.gettempdir()).glob(f"{PREFIX}*-*")):
        pid = folder.name[len(PREFIX):].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not owner_alive(int(pid), folder.stat().st_mtime):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _remove_output_dir() -> None:
    shutil.rmtree(OUTPUT_DIR, ignore_errors=True)


def remove_output_dir_on_shutdown() -> None:
    """Make SIGTERM shut the process down normally (Gradio's server closes, exit handlers run), so that
    ``OUTPUT_DIR`` is removed then as at any other exit. Call it from the main thread."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # KeyboardInterrupt, as for Ctrl-C


for _stale in remove_stale_output_dirs():
    logger.info("removed %s, left by a Space that is no longer running", _stale)
OUTPUT_DIR = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
atexit.register(_remove_output_dir)
REQUESTS_DIR = OUTPUT_DIR / "requests"  # one sub-folder per request, pruned
STARTUP_DIR = OUTPUT_DIR / "startup"  # what the page shows when it opens, kept
EXPLORER_DIR = OUTPUT_DIR / "explorer"  # one sub-folder per shape-explorer call, pruned
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
