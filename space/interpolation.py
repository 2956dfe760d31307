"""The latent tab: blend the latents of two examples and re-mesh as the slider moves.

This is the paper's "real-time manipulation": the mapper puts every image in the DIT's
latent space, where straight lines between codes stay among plausible shapes. The live
slider meshes at a lower resolution (``LIVE_RESOLUTION``) so that it keeps up with a hand;
the examples' latents are computed once and cached.
"""

from __future__ import annotations

import threading
import time

import gradio as gr
import torch

from .display import viewer_glb
from .examples import Example, examples_for
from .outputs import request_folder
from .reconstruct import Reconstructor, read_image

LIVE_RESOLUTION = 64


class LatentInterpolator:
    """Callbacks of the latent tab, over the Space's ``Reconstructor`` (same pipelines and locks)."""

    def __init__(self, reconstructor: Reconstructor, examples: tuple[Example, ...] | list[Example],
                 resolution: int = LIVE_RESOLUTION) -> None:
        self.reconstructor = reconstructor
        self.examples = tuple(examples)
        self.resolution = resolution
        self._latents: dict[tuple[str, str], torch.Tensor] = {}
        self._lock = threading.Lock()

    def choices(self, category: str) -> list[tuple[str, str]]:
        """(label, image path) pairs for the dropdowns: the category's examples (paths as the page shows them)."""
        return [(e.label, e.served) for e in examples_for(category, self.examples)]

    def latent(self, category: str, path: str) -> torch.Tensor:
        key = (category, path)
        with self._lock:
            cached = self._latents.get(key)
        if cached is None:
            cached = self.reconstructor.encode(category, read_image(path))
            with self._lock:
                self._latents[key] = cached
        return cached

    def select_category(self, category: str):
        """Category changed: both dropdowns list its examples, the first two selected."""
        choices = self.choices(category)
        first = choices[0][1] if choices else None
        second = choices[min(1, len(choices) - 1)][1] if choices else None
        if len(choices) > 2:  # a more telling default pair: two different shapes
            second = next((path for _, path in choices if _shape_of(path) != _shape_of(first)), second)
        return (gr.update(choices=choices, value=first), gr.update(choices=choices, value=second), first, second)

    def blend(self, category: str, first: str | None, second: str | None, t: float):
        """(category, two example paths, t in [0, 1]) -> (viewer GLB path, caption)."""
        if not first or not second:
            raise gr.Error("Pick two examples to blend.")
        allowed = {path for _, path in self.choices(category)}
        if first not in allowed or second not in allowed:
            raise gr.Error("Pick the two examples from the lists.")
        try:
            t = float(t)
        except (TypeError, ValueError):
            raise gr.Error(f"t must be a number from 0 to 1, got {t!r}") from None
        if not 0.0 <= t <= 1.0:
            raise gr.Error(f"t must be from 0 to 1, got {t}")
        started = time.perf_counter()
        pipe = self.reconstructor.pipeline(category)
        latent = pipe.interpolate(self.latent(category, first), self.latent(category, second), t)
        mesh = self.reconstructor.mesh(category, latent, self.resolution)
        path = request_folder(self.reconstructor.output_root) / f"blend-{t:.2f}.glb"
        path.write_bytes(viewer_glb(mesh, category))
        seconds = time.perf_counter() - started
        return str(path), f"t = {t:.2f} · {len(mesh.faces):,} faces at {self.resolution}³ · {seconds:.2f} s"


def _shape_of(path: str | None) -> str:
    """``car-5-yaw030.png`` -> ``car-5``: the shape an example shows."""
    name = (path or "").rsplit("/", 1)[-1]
    return name.rsplit("-yaw", 1)[0]
