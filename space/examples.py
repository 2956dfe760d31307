"""The example images shipped with the Space (written by ``space/make_examples.py``).

The page names them by paths relative to the working directory (``served``), and Gradio
serves them from their folder (``serve_examples``), so that the page's ``/config`` shows no
absolute server path: Gradio resolves a relative path against the working directory, and
copies a file that is not a static path into its cache under an absolute name.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import gradio as gr

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
SHORT_NAMES = {"business_jet": "biz jet"}  # labels fit under a thumbnail


@dataclass(frozen=True)
class Example:
    """One test-split render: which shape, seen from which yaw."""

    path: str
    category: str
    seed: int
    subtype: str
    yaw: int
    caption: str

    @property
    def served(self) -> str:
        """The path the page shows and sends back: relative to the working directory."""
        return os.path.relpath(self.path)

    @property
    def label(self) -> str:
        return f"{SHORT_NAMES.get(self.subtype, self.subtype.replace('_', ' '))} {self.yaw}°"


@functools.cache
def serve_examples() -> None:
    """Serve the examples from their folder (a Gradio static path, for the whole process), not from copies."""
    gr.set_static_paths([EXAMPLES_DIR])


@lru_cache(maxsize=4)
def load_examples(folder: Path = EXAMPLES_DIR) -> tuple[Example, ...]:
    """Every example listed in ``folder/manifest.json`` whose image is present."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return ()
    entries = json.loads(manifest.read_text())
    return tuple(
        Example(str(folder / e["file"]), e["category"], int(e["seed"]), e["subtype"], int(e["yaw"]), e["caption"])
        for e in entries
        if (folder / e["file"]).is_file()
    )


def examples_for(category: str, examples: tuple[Example, ...] | None = None) -> list[Example]:
    """The examples of ``category``; all of them for a model of another category (any image can be tried)."""
    examples = load_examples() if examples is None else examples
    same = [e for e in examples if e.category == category]
    return same or list(examples)
