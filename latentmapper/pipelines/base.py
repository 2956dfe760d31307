"""The base of the "latent -> DIT -> mesh" pipelines: loading, saving, checks and meshing.

``LatentMapperPipeline`` (an image to a latent) and ``GOEmbedPipeline`` (posed views to a
latent) differ only in how they find the DIT latent. What follows the latent (the
coarse-to-fine SDF grid, marching cubes, export, the sphere-traced preview), the safe
loading, the saved folder and its model card are the same, and live here once.

Loading checks every file first (``pipeline_files``) and never unpickles; fp16-shipped
weights are upcast to float32 unless another ``dtype`` is asked for, so a pipeline runs on
a CPU as shipped. Every call also returns how long each stage took (``timings``), laid out
by the library's one ``StageClock``, so that the Space, the benchmark and the evaluation
report the pipeline's own figures instead of re-chaining its stages.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Union

import numpy as np
import PIL.Image
import torch
import trimesh
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from huggingface_hub import ModelCard

from ..geometry import EmptySurfaceError, grid_to_mesh, latent_to_grid, render_latent
from ..mesh_io import export_mesh
from ..stage_clock import StageClock
from .pipeline_files import (PipelineLoadError, check_loaded_weights, check_pipeline_folder, download_pipeline,
                             resolve_pipeline_folder)

OUTPUT_TYPES = ("trimesh", "glb", "latent", "preview")
HUB_KWARGS = ("cache_dir", "revision", "token", "local_files_only", "force_download")

# The SDF lattice, its bookkeeping and marching cubes hold a few bytes per grid point, so memory grows with
# the cube of the resolution: measured peaks above the loaded model are 0.18 GB at 256 and 1.2 GB at 512;
# 1024 took 8.8 GB, more than a Space or a laptop has to spare.
MAX_RESOLUTION = 512
MAX_PREVIEW_SIZE = 1024


@dataclass
class MeshPipelineOutput(BaseOutput):
    """What a call returns, one entry per latent.

    latents: (B, latent_size) float32 DIT codes, on the pipeline's device.
    meshes: ``trimesh.Trimesh`` objects (``output_type="trimesh"``), GLB file bytes (``"glb"``), else None.
    images: sphere-traced previews as PIL images (``output_type="preview"``), else None.
    timings: wall seconds of each stage the call ran, in order (e.g. ``prepare``, ``features``, ``mapper``,
        ``sdf_grid``, ``marching_cubes``, ``export``), summed over the inputs.
    cpu_timings: the process's CPU seconds (all threads) over the same stages.
    """

    latents: torch.Tensor
    meshes: Union[list[trimesh.Trimesh], list[bytes], None] = None
    images: Union[list[PIL.Image.Image], None] = None
    timings: dict[str, float] = field(default_factory=dict)
    cpu_timings: dict[str, float] = field(default_factory=dict)


class LatentMeshPipeline(DiffusionPipeline):
    """A pipeline that finds DIT latents and meshes them; subclasses register a ``dit`` and a ``category``.

    Subclasses set ``output_class``, ``preloaded_components`` (transformers models loaded by their own loader, which fails
    on missing weights where transformers would fill them at random) and ``empty_surface_message`` (how
    a latent without a surface is explained), and implement ``model_card``.
    """

    output_class: ClassVar[type[MeshPipelineOutput]] = MeshPipelineOutput
    preloaded_components: ClassVar[dict[str, Callable]] = {}
    empty_surface_message: ClassVar[str] = (
        "{error}; the input may not show a {category} the decoder can reconstruct")

    # ---- loading and saving ---------------------------------------------------------------
    @classmethod
    def component_names(cls) -> list[str]:
        expected, _ = cls._get_signature_keys(cls)
        return expected

    @classmethod
    def download(cls, pretrained_model_name: str, **kwargs) -> str:
        """Fetch (or, offline, find in the cache) a pipeline repo: configs and safetensors only."""
        hub = {k: kwargs[k] for k in HUB_KWARGS if kwargs.get(k) is not None}
        return str(download_pipeline(pretrained_model_name, **hub))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> "LatentMeshPipeline":
        """Load from a local folder or a Hub repo id (offline: from the Hugging Face cache).

        Every component file is checked first, so a missing or corrupted one raises one
        ``PipelineLoadError`` naming it. ``dtype`` defaults to float32 (shipped fp16 weights
        are upcast); other keyword arguments are diffusers' (e.g. a component to use instead).
        """
        source = str(pretrained_model_name_or_path)
        if kwargs.pop("use_safetensors", True) is False:
            raise ValueError(f"{cls.__name__} loads safetensors weights only (nothing is unpickled)")
        hub = {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}
        folder = resolve_pipeline_folder(source, **hub)
        check_pipeline_folder(folder, cls.__name__, cls.component_names(), cls._optional_components)
        dtype, torch_dtype = kwargs.pop("dtype", None), kwargs.pop("torch_dtype", None)
        dtype = dtype or torch_dtype or torch.float32
        for name, loader in cls.preloaded_components.items():
            if name not in kwargs:
                kwargs[name] = _load_component(name, folder, lambda path, f=loader: f(str(path), dtype=dtype))
        try:
            pipe = super().from_pretrained(str(folder), dtype=dtype, use_safetensors=True, **kwargs)
        except PipelineLoadError:
            raise
        except Exception as err:  # diffusers/transformers/safetensors: keep their detail, say where
            raise PipelineLoadError(f"cannot load the pipeline in {folder}: {type(err).__name__}: {err}") from err
        check_loaded_weights(folder, pipe)
        pipe.register_to_config(_name_or_path=source)
        return pipe

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        safe_serialization: bool = True,
        variant: str | None = None,
        max_shard_size: int | str | None = None,
        push_to_hub: bool = False,
        model_card: dict | None = None,
        **kwargs,
    ) -> None:
        """Components (safetensors), ``model_index.json`` and the model card as README.md.

        ``model_card``: extra card fields (see the subclass's ``model_card``; ``repo_id`` for all).
        With ``push_to_hub=True`` the folder is then uploaded (``repo_id``, ``token``, ``private``,
        ``commit_message``, ``create_pr`` in kwargs), card included.
        """
        if not safe_serialization:
            raise ValueError(f"{type(self).__name__} is saved as safetensors only")
        card = dict(model_card or {})
        if push_to_hub:
            default_id = os.path.basename(os.path.normpath(str(save_directory)))
            repo_id = _create_repo(kwargs.pop("repo_id", default_id), kwargs.pop("private", None), kwargs.get("token"))
            card.setdefault("repo_id", repo_id)
        super().save_pretrained(save_directory, safe_serialization=True, variant=variant, max_shard_size=max_shard_size)
        self.model_card(**card).save(os.path.join(str(save_directory), "README.md"))
        if push_to_hub:
            _upload_folder(str(save_directory), card["repo_id"], type(self).__name__, **kwargs)

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | None = None,
        create_pr: bool = False,
        safe_serialization: bool = True,
        variant: str | None = None,
        model_card: dict | None = None,
    ):
        """Save to a temporary folder, model card included, and upload it.

        Overridden because diffusers' own push saves the folder and then replaces README.md
        with the repo's existing card or a generic one.
        """
        repo_id = _create_repo(repo_id, private, token)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, safe_serialization=safe_serialization, variant=variant,
                                 model_card={"repo_id": repo_id, **(model_card or {})})
            return _upload_folder(tmp, repo_id, type(self).__name__, token=token, commit_message=commit_message,
                                  create_pr=create_pr)

    def model_card(self, **fields) -> ModelCard:
        """The README.md written beside the components (see ``model_card.py``)."""
        raise NotImplementedError

    # ---- from a latent to a mesh ----------------------------------------------------------------
    @property
    def latent_size(self) -> int:
        return int(self.dit.config.latent_size)

    @torch.no_grad()
    def decode_latent(self, latent: torch.Tensor, resolution: int = 128, workers: int | None = None) -> trimesh.Trimesh:
        """One latent (L,) or (1, L) -> mesh, by the coarse-to-fine SDF grid and marching cubes.

        ``workers``: threads for the grid's decoder queries on a CPU (default: one per core PyTorch uses).
        Raises ``EmptySurfaceError`` when the latent describes no surface inside the unit cube.
        """
        return self._decode(latent, resolution, workers, StageClock())

    @torch.no_grad()
    def render_preview(self, latent: torch.Tensor, size: int = 128, workers: int | None = None) -> PIL.Image.Image:
        """A shaded, sphere-traced view of the latent's shape (front-left, as the renders), no mesh made."""
        check_preview_size(size)
        latent = torch.as_tensor(latent, dtype=torch.float32).reshape(-1)
        return render_latent(self.dit, latent, size=size, **({} if workers is None else {"workers": workers}))

    def _decode(self, latent: torch.Tensor, resolution: int, workers: int | None, clock: StageClock) -> trimesh.Trimesh:
        check_resolution(resolution)
        latent = torch.as_tensor(latent, dtype=torch.float32)
        if latent.dim() == 2 and latent.shape[0] == 1:
            latent = latent[0]
        if latent.shape != (self.latent_size,):
            raise ValueError(f"decode_latent takes one latent of shape ({self.latent_size},), got {tuple(latent.shape)}")
        grid = latent_to_grid(self.dit, latent, resolution, workers=workers)
        clock.lap("sdf_grid")
        try:
            return grid_to_mesh(grid)
        finally:  # lapped when it finds no surface too, so that the error's timings count its time
            clock.lap("marching_cubes")

    # ---- the shared half of a call ---------------------------------------------------------------
    @staticmethod
    def _begin(output_type: str, resolution: int, preview_size: int) -> StageClock:
        """Every argument error before any work is done; then the clock of the call's stages."""
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        check_resolution(resolution)
        if output_type == "preview":
            check_preview_size(preview_size)
        return StageClock()

    def _finish(self, latents: torch.Tensor, output_type: str, resolution: int, preview_size: int,
               workers: int | None, clock: StageClock, return_dict: bool) -> MeshPipelineOutput | tuple:
        """Latents -> the call's output: meshes, GLB bytes or previews as asked, with the stage timings.

        A latent without a surface raises ``EmptySurfaceError``; its ``timings`` hold the stages run so far.
        """
        meshes = images = None
        if output_type in ("trimesh", "glb"):
            meshes = [self._mesh(i, latent, resolution, workers, clock) for i, latent in enumerate(self._progress(latents))]
            if output_type == "glb":
                meshes = [export_mesh(mesh, "glb") for mesh in meshes]
                clock.lap("export")
        elif output_type == "preview":
            images = [self.render_preview(latent, preview_size, workers) for latent in self._progress(latents)]
            clock.lap("preview")
        if not return_dict:
            return latents, meshes, images
        return self.output_class(latents=latents, meshes=meshes, images=images, timings=dict(clock.seconds),
                                 cpu_timings=dict(clock.cpu_seconds))

    def _mesh(self, index: int, latent: torch.Tensor, resolution: int, workers: int | None,
              clock: StageClock) -> trimesh.Trimesh:
        try:
            return self._decode(latent, resolution, workers, clock)
        except EmptySurfaceError as err:
            error = EmptySurfaceError(self.empty_surface_message.format(
                index=index, error=err, category=self.config.category))
            error.timings = dict(clock.seconds)
            raise error from None

    def _progress(self, latents: torch.Tensor):
        return self.progress_bar(latents) if len(latents) > 1 else latents


def _check_integer(name: str, value: int, high: int, why: str = "") -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 16 <= value <= high:
        raise ValueError(f"{name} must be an integer in [16, {high}]{why}, got {value!r}")


def check_resolution(resolution: int) -> None:
    """A ValueError naming the allowed range unless ``resolution`` is an integer in [16, ``MAX_RESOLUTION``]."""
    _check_integer("resolution", resolution, MAX_RESOLUTION,
                   " (the grid's memory grows with its cube: about 1.2 GB at 512)")


def check_preview_size(size: int) -> None:
    """A ValueError unless ``size`` is an integer in [16, ``MAX_PREVIEW_SIZE``]."""
    _check_integer("preview_size", size, MAX_PREVIEW_SIZE)


def _load_component(name: str, folder, load):
    """``load(folder / name)``, any failure re-raised as one error naming the component."""
    path = folder / name
    try:
        return load(path)
    except Exception as err:
        raise PipelineLoadError(f"component {name!r} in {path} cannot be loaded: {type(err).__name__}: {err}") from err


def _create_repo(repo_id: str, private: bool | None, token: str | None) -> str:
    import huggingface_hub

    return huggingface_hub.create_repo(repo_id, private=private, token=token, exist_ok=True).repo_id


def _upload_folder(folder: str, repo_id: str, pipeline_class: str, token: str | None = None,
                   commit_message: str | None = None, create_pr: bool = False):
    import huggingface_hub

    return huggingface_hub.upload_folder(repo_id=repo_id, folder_path=folder, token=token, create_pr=create_pr,
                                         commit_message=commit_message or f"Upload {pipeline_class}")


__all__ = [
    "HUB_KWARGS", "MAX_PREVIEW_SIZE", "MAX_RESOLUTION", "OUTPUT_TYPES", "LatentMeshPipeline", "MeshPipelineOutput",
    "check_preview_size", "check_resolution",
]
