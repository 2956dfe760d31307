"""Atomic outputs: a file or folder appears complete under its final name, or not at all.

Long jobs (dataset builds, training, evaluation) write to a temporary name next to the
target and rename it into place, so an interruption never leaves a half-written result.
The temporary's name records the writing process (``.NAME.PID-XXXX.tmp``), so that what a
``kill -9`` leaves behind can be told from a live writer's and cleared
(:func:`clear_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import json
import glob
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import psutil


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; on success move it to ``target`` (replacing it).

    On error the temporary is removed and ``target`` is left exactly as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the result should get normal permissions
    work = tmp if is_dir else tmp / target.name
    try:
        yield work
        if target.is_dir() and not target.is_symlink():
            trash = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, trash)
            os.replace(work, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(work, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """``data`` as indented JSON at ``path``, atomically (logs, settings, per-shape scores)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def owner_alive(pid: int, since: float) -> bool:
    """Whether process ``pid`` runs and is the one that made a file at time ``since`` (a pid reused by a
    process started later does not count; a process we may not inspect counts as alive)."""
    try:
        return psutil.Process(pid).create_time() <= since + 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


# What atomic_path leaves after NAME's prefix ".NAME.": "PID-XXXXXXXX.tmp" (mkdtemp's 8 characters), the
# older "XXXXXXXX.tmp" that records no writer, or the replaced folder "old-PID".
_LEFTOVER = re.compile(r"(?:(?P<pid>\d+)-)?[a-z0-9_]{8}\.tmp|old-(?P<old>\d+)")


def clear_stale_temporaries(target: str | os.PathLike) -> list[Path]:
    """Remove what an ``atomic_path`` killed mid-save (``kill -9``) left beside ``target``; returns them.

    A temporary whose writer still runs is kept, and so is anything of another target (``NAME.v2``).
    One of the older naming, which records no writer, is removed: such names are no longer made,
    so its writer is an earlier run."""
    target = Path(target)
    prefix = f".{target.name}."
    removed = []
    for leftover in sorted(target.parent.glob(glob.escape(prefix) + "*")):
        match = _LEFTOVER.fullmatch(leftover.name[len(prefix):])
        if match is None:
            continue
        pid = match["pid"] or match["old"]
        if pid is None or not owner_alive(int(pid), leftover.stat().st_mtime):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed
