"""The reconstruction callback: one image -> the mesh in the viewer, a download, per-stage timings.

The pipeline runs the stages and times them (its output's ``timings``); the Space shows those
figures, as ``benchmarks/benchmark_pipeline.py`` does, plus the time its own exports took.
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
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import PIL.Image
import torch

from latentmapper.geometry import EmptySurfaceError
from latentmapper.image_io import InvalidImageError, load_image
from latentmapper.mesh_io import MESH_FORMATS, export_mesh
from latentmapper.photo import EmptyMatteError
from latentmapper.stage_clock import StageClock, rename_stages

from .display import viewer_glb
from .memory import INPUT_LOCK, release_memory
from .outputs import REQUESTS_DIR, request_folder
from .photo_mode import NO_OBJECT

STAGES = ("features", "mapper", "SDF grid", "marching cubes", "export")
MIN_RESOLUTION, MAX_RESOLUTION, DEFAULT_RESOLUTION = 64, 256, 128
PREVIEW_SIZE = 128


# The pipeline's stages under the names the Space shows; checking the image counts as features here.
SHOWN_STAGES = {"prepare": "features", "features": "features", "mapper": "mapper", "sdf_grid": "SDF grid",
                "marching_cubes": "marching cubes"}


def timings_markdown(seconds: dict[str, float]) -> str:
    cells = " | ".join(f"{stage} **{value:.2f} s**" for stage, value in seconds.items())
    return f"{cells} | total **{sum(seconds.values()):.2f} s**"


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

    def run(self, category: str, image: PIL.Image.Image, **kwargs):
        """The category's pipeline on one image, on the Space's workers; every user mistake a ``gr.Error``."""
        try:
            return self.pipeline(category)(image, workers=self.workers, **kwargs)
        except (InvalidImageError, FileNotFoundError, EmptySurfaceError) as err:
            raise user_error(err, category) from None
        except EmptyMatteError:
            raise gr.Error(NO_OBJECT) from None

    def encode(self, category: str, image: PIL.Image.Image) -> torch.Tensor:
        """Image -> (latent_size,) latent."""
        return self.run(category, image, output_type="latent").latents[0]

    def mesh(self, category: str, latent: torch.Tensor, resolution: int):
        """Latent -> trimesh; no surface is a plain ``gr.Error``."""
        try:
            return self.pipeline(category).decode_latent(latent, resolution, workers=self.workers)
        except EmptySurfaceError as err:
            raise user_error(err, category) from None

    def reconstruct(self, image, category: str, resolution=DEFAULT_RESOLUTION, download_format: str = "glb",
                    photo_mode: bool = False, progress=None, folder: Path | None = None) -> Reconstruction:
        """The whole request; every user mistake raises ``gr.Error``. Files go to ``folder`` (default: a new
        request folder)."""
        progress = progress or (lambda *args, **kwargs: None)
        self.pipeline(category)  # an unknown category is refused before any work
        resolution = check_resolution(resolution)
        download_format = str(download_format or "glb").lower()
        if download_format not in MESH_FORMATS:
            raise gr.Error(f"Unknown download format {download_format!r}; choose one of {', '.join(MESH_FORMATS)}.")
        progress(0.0, desc="reading the image")
        with INPUT_LOCK:  # one full-size decode at a time (see space/memory.py)
            rgb = read_image(image)
        progress(0.1, desc=f"{'photo mode, ' if photo_mode else ''}image features, mapper and SDF grid at {resolution}^3")
        out = self.run(category, rgb, resolution=resolution, output_type="trimesh", photo_mode=photo_mode)
        latent, mesh, seconds = out.latents[0], out.meshes[0], rename_stages(out.timings, SHOWN_STAGES)
        progress(0.9, desc="export")
        clock = StageClock()
        folder = Path(folder) if folder is not None else request_folder(self.output_root)
        folder.mkdir(parents=True, exist_ok=True)
        viewer_path = folder / f"{category}-view.glb"
        viewer_path.write_bytes(viewer_glb(mesh, category))
        download_path = folder / f"latentmapper-{category}-{resolution}.{download_format}"
        download_path.write_bytes(export_mesh(mesh, download_format))
        seconds["export"] = clock.lap("export")
        return Reconstruction(category, viewer_path, download_path, latent.detach().cpu().tolist(),
                              seconds, timings_markdown(seconds))

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
        clock = StageClock()
        image = pipe.render_preview(torch.tensor(state["latent"], dtype=torch.float32), PREVIEW_SIZE, self.workers)
        seconds = clock.lap("preview")
        return image, f"{state.get('timings', '')} · then preview **{seconds:.2f} s**"
