"""The Space's temporary folder: removed at exit and on SIGTERM; stale ones of dead processes removed at start."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from space.outputs import OUTPUT_DIR, remove_stale_output_dirs

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import sys, time
from space.outputs import OUTPUT_DIR, remove_output_dir_on_shutdown
remove_output_dir_on_shutdown()
(OUTPUT_DIR / "requests").mkdir(exist_ok=True)
(OUTPUT_DIR / "requests" / "mesh.glb").write_bytes(b"x" * 1000)
print(OUTPUT_DIR, flush=True)
if sys.argv[1] == "wait":
    time.sleep(120)
"""


def _start(mode: str) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return process, Path(process.stdout.readline().strip())


def test_the_output_folder_is_removed_at_exit_and_on_sigterm():
    """Issue 19, defect 6b: the Space's temporary folder outlived the process (108 MB after one run)."""
    process, folder = _start("exit")
    assert process.wait(60) == 0 and folder.name.startswith("latentmapper-space-") and not folder.exists()
    process, folder = _start("wait")
    assert folder.is_dir()
    process.send_signal(signal.SIGTERM)
    process.wait(60)
    assert not folder.exists()


def test_start_up_removes_the_folders_of_dead_processes_only(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"latentmapper-space-{dead.pid}-abcd1234"
    live = tmp_path / f"latentmapper-space-{os.getpid()}-efgh5678"
    other = tmp_path / "latentmapper-space-old1234"  # no owner recorded: cannot tell, so kept
    for folder in (stale, live, other):
        (folder / "requests").mkdir(parents=True)
    time.sleep(0.01)
    assert remove_stale_output_dirs(tmp_path) == [stale]
    assert not stale.exists() and live.is_dir() and other.is_dir()
    assert OUTPUT_DIR.name.startswith(f"latentmapper-space-{os.getpid()}-")
