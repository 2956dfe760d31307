"""Atomic outputs: a file or folder appears complete under its final name, or not at all.

Long jobs (dataset builds, training, evaluation) write to a temporary name next to the
target and rename it into place, so an interruption never leaves a half-written result.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


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
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
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
