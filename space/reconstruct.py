"""The reconstruction callback: one image -> the mesh in the viewer, a download, per-stage timings.

The stages are split as ``train/benchmark_pipeline.py`` splits them (features, mapper, SDF
grid, marching cubes, export), so the times the Space shows are the benchmark's figures.
Every failure a user can cause becomes a ``gr.Error`` with a plain message; the app keeps
serving.

Concurrency: Gradio's queue runs a few requests at once in threads over shared pipelines.
The pipeline serialises its feature stage itself (it hooks the shared ViT for a few tens of
milliseconds). The decoder queries are thread-safe and run on a fixed number of worker
threads, decided once at start-up, because the library picks its workers from PyTorch's
thread count, which is 1 while any request is inside a single-threaded section.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import PIL.Image
import torch

from latentmapper.geometry import EmptySurfaceError, latent_to_grid, marching_cubes, render_latent
from latentmapper.image_io import InvalidImageError, load_image
from latentmapper.mesh_io import MESH_FORMATS, export_mesh

from .display import viewer_glb
from .memory import INPUT_LOCK, release_memory
from .outputs import REQUESTS_DIR, request_folder
from .photo_mode import apply_photo_mode

STAGES = ("features", "mapper", "SDF grid", "marching cubes", "export")
MIN_RESOLUTION, MAX_RESOLUTION, DEFAULT_RESOLUTION = 64, 256, 128
PREVIEW_SIZE = 128


class StageClock:
    """Wall-clock seconds of consecutive stages."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = now - self._start
        self._start = now

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def markdown(self) -> str:
        cells = " | ".join(f"{stage} **{seconds:.2f} s**" for stage, seconds in self.seconds.items())
        return f"{cells} | total **{self.total:.2f} s**"


@dataclass
class Reconstruction:
    """What one request produced; ``latent`` feeds the preview step."""

    category: str
    viewer_path: Path
    download_path: Path
    latent: list[float]
    seconds: dict[str, float] = field(default_factory=dict)
    timings: str = ""


def user_error(err: BaseException, category: str = "object") -> gr.Error:
    """A plain message for an error the user's input caused."""
    if isinstance(err, EmptySurfaceError):
        return gr.Error(f"The {category} model found no surface for this image, so there is no mesh. It may not "
                        f"show a {category}: try an image of one object on a white background, or another category.")
    if isinstance(err, FileNotFoundError):
        return gr.Error("The uploaded image could not be found on the server; please upload it again.")
    message = str(err)
    for path in _paths_in(err):  # the server's temporary upload path means nothing to the user
        message = message.replace(path, os.path.basename(path))
    return gr.Error(f"This image cannot be used: {message}")


def _paths_in(err: BaseException) -> list[str]:
    text = str(err)
    return [token.strip("'\"(),") for token in text.split() if token.strip("'\"(),").startswith(os.sep)]


def read_image(image) -> PIL.Image.Image:
    """The uploaded image (a path from Gradio, or a PIL image / array) as RGB, or a plain ``gr.Error``."""
    if image is None or (isinstance(image, str) and not image.strip()):
        raise gr.Error("Please upload an image first, or click one of the examples.")
    try:
        return load_image(image)
    except (InvalidImageError, FileNotFoundError) as err:
        raise user_error(err) from None


def check_resolution(resolution) -> int:
    try:
        value = int(resolution)
    except (TypeError, ValueError):
        raise gr.Error(f"The resolution must be a whole number, got {resolution!r}.") from None
    if value != resolution or not MIN_RESOLUTION <= value <= MAX_RESOLUTION:
        raise gr.Error(f"The resolution must be a whole number from {MIN_RESOLUTION} to {MAX_RESOLUTION}, "
                       f"got {resolution!r}.")
    return value


class Reconstructor:
    """Holds the loaded pipelines; ``__call__`` is the Gradio callback."""

    def __init__(self, pipelines: dict, workers: int | None = None, output_root: Path = REQUESTS_DIR) -> None:
        if not pipelines:
            raise ValueError("the Space needs at least one pipeline")
        self.pipelines = dict(pipelines)
        self.workers = max(1, workers or torch.get_num_threads())
        self.output_root = Path(output_root)

    @property
    def categories(self) -> list[str]:
        return list(self.pipelines)

    def pipeline(self, category: str):
        if category not in self.pipelines:
            raise gr.Error(f"Unknown category {category!r}; this Space serves {', '.join(self.pipelines)}.")
        return self.pipelines[category]

    def encode(self, category: str, image: PIL.Image.Image, clock: StageClock | None = None) -> torch.Tensor:
        """Image -> (latent_size,) latent; laps "features" and "mapper" on ``clock``."""
        pipe = self.pipeline(category)
        clock = clock or StageClock()
        try:
            clip, bag = pipe.encode_features(pipe.prepare_images(image))
        except (InvalidImageError, FileNotFoundError) as err:
            raise user_error(err) from None
        clock.lap("features")
        latent = pipe.map_features(clip, bag)[0]
        clock.lap("mapper")
        return latent

    def mesh(self, category: str, latent: torch.Tensor, resolution: int, clock: StageClock | None = None):
        """Latent -> trimesh; laps "SDF grid" and "marching cubes"; no surface is a plain ``gr.Error``."""
        clock = clock or StageClock()
        grid = latent_to_grid(self.pipeline(category).dit, latent, resolution, workers=self.workers)
        clock.lap("SDF grid")
        try:
            mesh = marching_cubes(grid)
        except EmptySurfaceError as err:
            raise user_error(err, category) from None
        clock.lap("marching cubes")
        return mesh

    def reconstruct(self, image, category: str, resolution=DEFAULT_RESOLUTION, download_format: str = "glb",
                    photo_mode: bool = False, progress=None, folder: Path | None = None) -> Reconstruction:
        """The whole request; every user mistake raises ``gr.Error``. Files go to ``folder`` (default: a new
        request folder)."""
        progress = progress or (lambda *args, **kwargs: None)
        pipe = self.pipeline(category)
        resolution = check_resolution(resolution)
        download_format = str(download_format or "glb").lower()
        if download_format not in MESH_FORMATS:
            raise gr.Error(f"Unknown download format {download_format!r}; choose one of {', '.join(MESH_FORMATS)}.")
        progress(0.0, desc="reading the image")
        with INPUT_LOCK:  # one full-size decode at a time (see space/memory.py)
            rgb = read_image(image)
            if photo_mode:
                rgb = apply_photo_mode(pipe, rgb)
        clock = StageClock()
        progress(0.1, desc="image features and mapper")
        latent = self.encode(category, rgb, clock)
        progress(0.3, desc=f"SDF grid at {resolution}^3")
        mesh = self.mesh(category, latent, resolution, clock)
        progress(0.9, desc="export")
        folder = Path(folder) if folder is not None else request_folder(self.output_root)
        folder.mkdir(parents=True, exist_ok=True)
        viewer_path = folder / f"{category}-view.glb"
        viewer_path.write_bytes(viewer_glb(mesh, category))
        download_path = folder / f"latentmapper-{category}-{resolution}.{download_format}"
        download_path.write_bytes(export_mesh(mesh, download_format))
        clock.lap("export")
        return Reconstruction(category, viewer_path, download_path, latent.detach().cpu().tolist(),
                              dict(clock.seconds), clock.markdown())

    def __call__(self, image, category: str, resolution=DEFAULT_RESOLUTION, download_format: str = "glb",
                 photo_mode: bool = False, progress=gr.Progress()):
        """Gradio callback -> (viewer GLB, download file, timings markdown, preview state)."""
        try:
            result = self.reconstruct(image, category, resolution, download_format, photo_mode, progress)
        finally:
            release_memory()  # the request's freed pages back to the system, not kept by its thread's arena
        state = {"category": result.category, "latent": result.latent, "timings": result.timings}
        return str(result.viewer_path), str(result.download_path), result.timings, state

    def preview(self, state: dict | None, show: bool = True):
        """Sphere-traced preview of the last reconstruction's latent (no mesh needed) -> (image, timings)."""
        if not state:
            return None, gr.update()
        if not show:
            return None, state.get("timings", "")
        pipe = self.pipeline(state["category"])
        started = time.perf_counter()
        latent = torch.tensor(state["latent"], dtype=torch.float32)
        image = render_latent(pipe.dit, latent, size=PREVIEW_SIZE, workers=self.workers)
        seconds = time.perf_counter() - started
        return image, f"{state.get('timings', '')} · then preview **{seconds:.2f} s**"
