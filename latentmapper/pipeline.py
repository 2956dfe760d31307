"""``LatentMapperPipeline``: image(s) in, DIT latents and meshes out, as a diffusers pipeline.

    pipe = LatentMapperPipeline.from_pretrained("runs/pipeline" or "org/latentmapper-car")
    out = pipe("car.png", resolution=128, output_type="glb")   # out.latents, out.meshes, out.images

The steps follow the paper and the training scripts exactly: the image's unit-norm CLIP
embedding and its bag of ViT-key descriptors (``features.mapper_features``, the same code
that cached the training features), the autoencoder code of the bag, the mapper to a DIT
latent, then the coarse-to-fine SDF grid and marching cubes (``geometry.latent_to_mesh``)
or a sphere-traced preview. Nothing is random, so ``generator`` changes nothing; it is
accepted so that code written for other diffusers pipelines runs unchanged.

On disk a pipeline is ``model_index.json``, a README model card and one folder per
component, all weights safetensors. Loading checks every file first
(``pipeline_files``) and never unpickles; fp16-shipped weights are upcast to float32
unless another ``dtype`` is asked for, so the pipeline runs on a CPU as shipped.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Iterator, Sequence, Union

import numpy as np
import PIL.Image
import torch
import trimesh
from diffusers import DiffusionPipeline, ModelMixin, UNet2DModel
from diffusers.utils import BaseOutput
from transformers import CLIPVisionModelWithProjection, PreTrainedModel
from transformers.image_processing_base import ImageProcessingMixin

from .features import ClipEmbedder, ViTKeyExtractor, load_clip_vision, load_vit, mapper_features
from .geometry import EmptySurfaceError, latent_to_mesh, render_latent
from .image_io import ImageBatch, load_images
from .mesh_io import export_mesh
from .model_card import write_model_card
from .torch_threads import single_torch_thread
from .models import DescriptorAutoencoder, DITDecoder, KeyCodebook, LatentMapper
from .pipeline_files import PipelineLoadError, check_loaded_weights, check_pipeline_folder, download_pipeline, resolve_pipeline_folder
from .photo import FramingReference, photo_mode as photo_mode_images, translate_to_renders  # photo mode (issue 18)

OUTPUT_TYPES = ("trimesh", "glb", "latent", "preview")
_FEATURE_LOCK = threading.Lock()
HUB_KWARGS = ("cache_dir", "revision", "token", "local_files_only", "force_download")


@dataclass
class LatentMapperPipelineOutput(BaseOutput):
    """What ``pipe(...)`` returns, one entry per input image.

    latents: (B, latent_size) float32 DIT codes, on the pipeline's device.
    meshes: ``trimesh.Trimesh`` objects (``output_type="trimesh"``), GLB file bytes (``"glb"``), else None.
    images: sphere-traced previews as PIL images (``output_type="preview"``), else None.
    """

    latents: torch.Tensor
    meshes: Union[list[trimesh.Trimesh], list[bytes], None] = None
    images: Union[list[PIL.Image.Image], None] = None


class LatentMapperPipeline(DiffusionPipeline):
    """Single-view reconstruction: CLIP + ViT-key features -> mapper -> DIT latent -> mesh.

    Components: ``clip`` (CLIP vision tower with projection) and ``clip_processor``; ``vit``
    (any ViT-style encoder whose key projections are hooked) and ``vit_processor``;
    ``codebook`` (k-means words of the keys), ``autoencoder`` (bag -> code), ``mapper``
    (code + CLIP -> latent), ``dit`` (latent -> SDF); optional, for photo mode (``latentmapper.photo``):
    ``translator`` (a real-to-synthetic image translator), ``framing`` (the category's render framing
    statistics) and ``matting`` (a matting U-Net). ``category`` names what the decoder was trained on.
    """

    model_cpu_offload_seq = "clip->vit->autoencoder->mapper->dit"
    _optional_components = ["translator", "framing", "matting"]  # photo mode (issue 18)

    def __init__(
        self,
        clip: CLIPVisionModelWithProjection,
        clip_processor: ImageProcessingMixin,
        vit: PreTrainedModel,
        vit_processor: ImageProcessingMixin,
        codebook: KeyCodebook,
        autoencoder: DescriptorAutoencoder,
        mapper: LatentMapper,
        dit: DITDecoder,
        translator: ModelMixin | None = None,
        category: str = "object",
        framing: FramingReference | None = None,  # photo mode (issue 18)
        matting: UNet2DModel | None = None,  # photo mode (issue 18)
    ) -> None:
        super().__init__()
        self.register_modules(
            clip=clip, clip_processor=clip_processor, vit=vit, vit_processor=vit_processor, codebook=codebook,
            autoencoder=autoencoder, mapper=mapper, dit=dit, translator=translator,
            framing=framing, matting=matting,  # photo mode (issue 18)
        )
        self.register_to_config(category=category)
        for module in (clip, vit, codebook, autoencoder, mapper, dit, translator, framing, matting):
            if module is not None:
                module.eval().requires_grad_(False)

    def __setattr__(self, name: str, value) -> None:
        """``pipe.translator = model`` registers the component even where it was None (diffusers keeps
        a component that was absent at construction unregistered, so it would not be saved)."""
        if (name in self._optional_components and value is not None and name in self.__dict__
                and tuple(getattr(self.config, name, (None, None)))[0] is None):
            self.register_modules(**{name: value})
            return
        super().__setattr__(name, value)

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
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> "LatentMapperPipeline":
        """Load from a local folder or a Hub repo id (offline: from the Hugging Face cache).

        Every component file is checked first, so a missing or corrupted one raises one
        ``PipelineLoadError`` naming it. ``dtype`` defaults to float32 (shipped fp16 weights
        are upcast); other keyword arguments are diffusers' (e.g. a component to use instead).
        """
        source = str(pretrained_model_name_or_path)
        if kwargs.pop("use_safetensors", True) is False:
            raise ValueError("LatentMapper pipelines load safetensors weights only (nothing is unpickled)")
        hub = {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}
        folder = resolve_pipeline_folder(source, **hub)
        check_pipeline_folder(folder, cls.__name__, cls.component_names(), cls._optional_components)
        dtype, torch_dtype = kwargs.pop("dtype", None), kwargs.pop("torch_dtype", None)
        dtype = dtype or torch_dtype or torch.float32
        loaders = {"clip": load_clip_vision, "vit": load_vit}
        for name, loader in loaders.items():  # transformers would fill missing weights at random, with a warning
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

        ``model_card``: extra card fields (``evaluation``, ``training_data``, ``repo_id``, ``results``).
        With ``push_to_hub=True`` the folder is then uploaded (``repo_id``, ``token``, ``private``,
        ``commit_message``, ``create_pr`` in kwargs), card included.
        """
        if not safe_serialization:
            raise ValueError("LatentMapper pipelines are saved as safetensors only")
        card = dict(model_card or {})
        if push_to_hub:
            default_id = os.path.basename(os.path.normpath(str(save_directory)))
            repo_id = _create_repo(kwargs.pop("repo_id", default_id), kwargs.pop("private", None), kwargs.get("token"))
            card.setdefault("repo_id", repo_id)
        super().save_pretrained(save_directory, safe_serialization=True, variant=variant, max_shard_size=max_shard_size)
        write_model_card(save_directory, self, **card)
        if push_to_hub:
            _upload_folder(str(save_directory), card["repo_id"], **kwargs)

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
            return _upload_folder(tmp, repo_id, token=token, commit_message=commit_message, create_pr=create_pr)

    # ---- the steps ----------------------------------------------------------------------------
    @property
    def latent_size(self) -> int:
        return int(self.dit.config.latent_size)

    def translate(self, images: list[PIL.Image.Image]) -> list[PIL.Image.Image]:
        """Real photos -> synthetic-looking renders with the translator (``photo.translate_to_renders``)."""
        if self.translator is None:
            raise ValueError("real_to_synthetic=True needs a translator, and this pipeline has none")
        return translate_to_renders(self.translator, images)

    def prepare_images(self, image: ImageBatch, real_to_synthetic: bool = False,
                       photo_mode: bool = False) -> list[PIL.Image.Image]:
        """Validated RGB images (see ``image_io``); with ``photo_mode`` matted, framed and translated by the
        photo-mode components (``latentmapper.photo.photo_mode``), else translated when asked."""
        images = load_images(image)
        if photo_mode:  # photo mode (issue 18)
            return photo_mode_images(images, framing=self.framing, matting=self.matting, translator=self.translator)
        return self.translate(images) if real_to_synthetic else images

    @torch.no_grad()
    def encode_features(self, images: list[PIL.Image.Image]) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB images -> (CLIP embeddings, bags of descriptors), exactly as the training features."""
        clip = ClipEmbedder(self.clip, self.clip_processor)
        keys = ViTKeyExtractor(self.vit, self.vit_processor)
        # The key capture hooks the ViT's layers for the call, so concurrent calls (a Space
        # serving several requests) take turns; the features cost milliseconds.
        with _FEATURE_LOCK, one_thread_on_cpu(self.clip.device):
            return mapper_features(clip, keys, self.codebook, images)

    @torch.no_grad()
    def map_features(self, clip_embeddings: torch.Tensor, bags: torch.Tensor) -> torch.Tensor:
        """(CLIP embeddings, bags) -> (B, latent_size) float32 latents."""
        param = next(self.mapper.parameters())
        ae_param = next(self.autoencoder.parameters())
        with one_thread_on_cpu(param.device):
            code = self.autoencoder.encode(bags.to(ae_param.device, ae_param.dtype))
            latents = self.mapper(code.to(param.device, param.dtype), clip_embeddings.to(param.device, param.dtype))
        return latents.float()

    def encode_image(self, image: ImageBatch, real_to_synthetic: bool = False, photo_mode: bool = False) -> torch.Tensor:
        """Image(s) (PIL, numpy, paths; see ``image_io``) -> (B, latent_size) DIT latents."""
        images = self.prepare_images(image, real_to_synthetic, photo_mode)
        return self.map_features(*self.encode_features(images))

    @torch.no_grad()
    def decode_latent(self, latent: torch.Tensor, resolution: int = 128) -> trimesh.Trimesh:
        """One latent (L,) or (1, L) -> mesh, by the coarse-to-fine SDF grid and marching cubes.

        Raises ``EmptySurfaceError`` when the latent describes no surface inside the unit cube.
        """
        check_resolution(resolution)
        latent = torch.as_tensor(latent, dtype=torch.float32)
        if latent.dim() == 2 and latent.shape[0] == 1:
            latent = latent[0]
        if latent.shape != (self.latent_size,):
            raise ValueError(f"decode_latent takes one latent of shape ({self.latent_size},), got {tuple(latent.shape)}")
        return latent_to_mesh(self.dit, latent, resolution)

    @torch.no_grad()
    def render_preview(self, latent: torch.Tensor, size: int = 128) -> PIL.Image.Image:
        """A shaded, sphere-traced view of the latent's shape (front-left, as the renders), no mesh made."""
        _check_preview_size(size)
        return render_latent(self.dit, torch.as_tensor(latent, dtype=torch.float32).reshape(-1), size=size)

    def interpolate(
        self, latent_a: torch.Tensor, latent_b: torch.Tensor, t: float | Sequence[float] | torch.Tensor
    ) -> torch.Tensor:
        """Linear blend ``a + t (b - a)``: (L,) for a scalar ``t``, (T, L) for T values of ``t``.

        The DIT latent space is trained with a Gaussian prior on codes, so straight lines
        between two codes stay among plausible shapes; decode each with ``decode_latent``.
        """
        a = torch.as_tensor(latent_a, dtype=torch.float32).reshape(-1)
        b = torch.as_tensor(latent_b, dtype=torch.float32).reshape(-1).to(a.device)
        if a.shape != b.shape:
            raise ValueError(f"latents differ in size: {a.shape[0]} and {b.shape[0]}")
        weights = torch.as_tensor(t, dtype=torch.float32, device=a.device)
        if weights.dim() > 1:
            raise ValueError(f"t must be a number or a 1-D sequence, got shape {tuple(weights.shape)}")
        if weights.dim() == 0:
            return a + weights * (b - a)
        return a + weights[:, None] * (b - a)

    # ---- the call ----------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        image: ImageBatch,
        resolution: int = 128,
        output_type: str = "trimesh",
        real_to_synthetic: bool = False,
        generator: torch.Generator | None = None,
        preview_size: int = 128,
        return_dict: bool = True,
        photo_mode: bool = False,
    ) -> LatentMapperPipelineOutput | tuple:
        """Reconstruct each image.

        Args:
            image: a PIL image, numpy array or file path, or a list of them (or an NxHxWxC array).
            resolution: marching-cubes grid size per axis, 16 to ``MAX_RESOLUTION`` (512: about 1.2 GB of
                memory; the coarse-to-fine grid keeps the time low, the lattice still takes its memory).
            output_type: ``"trimesh"`` (meshes), ``"glb"`` (GLB bytes), ``"latent"`` (latents only) or
                ``"preview"`` (sphere-traced images of ``preview_size`` pixels, no mesh).
            real_to_synthetic: run the translator first (photos -> render-like images).
            photo_mode: for photos: matte -> frame (+ grey level) -> translate with the optional ``matting``,
                ``framing`` and ``translator`` components (classical matting, a fixed framing, no translation
                where one is absent), then map; an image without an object raises ``EmptyMatteError``.
            generator: accepted for API symmetry with other pipelines; the pipeline is deterministic.
        """
        del generator  # deterministic: nothing is sampled
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        check_resolution(resolution)
        if output_type == "preview":
            _check_preview_size(preview_size)
        latents = self.encode_image(image, real_to_synthetic=real_to_synthetic, photo_mode=photo_mode)
        meshes = images = None
        if output_type in ("trimesh", "glb"):
            meshes = [self._mesh(i, latent, resolution) for i, latent in enumerate(self._progress(latents))]
            if output_type == "glb":
                meshes = [export_mesh(mesh, "glb") for mesh in meshes]
        elif output_type == "preview":
            images = [self.render_preview(latent, preview_size) for latent in self._progress(latents)]
        if not return_dict:
            return latents, meshes, images
        return LatentMapperPipelineOutput(latents=latents, meshes=meshes, images=images)

    def _mesh(self, index: int, latent: torch.Tensor, resolution: int) -> trimesh.Trimesh:
        try:
            return self.decode_latent(latent, resolution)
        except EmptySurfaceError as err:
            raise EmptySurfaceError(
                f"image {index}: {err}; the image may not show a {self.config.category} the decoder can reconstruct"
            ) from None

    def _progress(self, latents: torch.Tensor):
        return self.progress_bar(latents) if len(latents) > 1 else latents


@contextlib.contextmanager
def one_thread_on_cpu(device: torch.device) -> Iterator[None]:
    """Run the small encoders single-threaded on a CPU (PyTorch's count restored afterwards).

    Why: each PyTorch op ends at a barrier of its threads, and on a small CPU shared with
    other jobs one thread is often descheduled while the other waits. Measured on the 2-core
    machine beside two training jobs: the shipped CLIP + ViT features took 1.1 s on 2 threads
    and 0.03 s on 1. (Meshing spreads its queries over worker threads instead; see geometry.)
    """
    if torch.device(device).type != "cpu":
        yield
        return
    with single_torch_thread():
        yield


def _create_repo(repo_id: str, private: bool | None, token: str | None) -> str:
    import huggingface_hub

    return huggingface_hub.create_repo(repo_id, private=private, token=token, exist_ok=True).repo_id


def _upload_folder(folder: str, repo_id: str, token: str | None = None, commit_message: str | None = None,
                   create_pr: bool = False):
    import huggingface_hub

    return huggingface_hub.upload_folder(repo_id=repo_id, folder_path=folder, token=token, create_pr=create_pr,
                                         commit_message=commit_message or "Upload LatentMapperPipeline")


# The SDF lattice, its bookkeeping and marching cubes hold a few bytes per grid point, so memory grows with
# the cube of the resolution: measured peaks above the loaded model are 0.18 GB at 256 and 1.2 GB at 512;
# 1024 took 8.8 GB, more than a Space or a laptop has to spare.
MAX_RESOLUTION = 512
MAX_PREVIEW_SIZE = 1024


def _check_integer(name: str, value: int, high: int, why: str = "") -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 16 <= value <= high:
        raise ValueError(f"{name} must be an integer in [16, {high}]{why}, got {value!r}")


def check_resolution(resolution: int) -> None:
    """A ValueError naming the allowed range unless ``resolution`` is an integer in [16, ``MAX_RESOLUTION``]."""
    _check_integer("resolution", resolution, MAX_RESOLUTION,
                   " (the grid's memory grows with its cube: about 1.2 GB at 512)")


def _check_preview_size(size: int) -> None:
    _check_integer("preview_size", size, MAX_PREVIEW_SIZE)


def _load_component(name: str, folder, load):
    """``load(folder / name)``, any failure re-raised as one error naming the component."""
    path = folder / name
    try:
        return load(path)
    except Exception as err:
        raise PipelineLoadError(f"component {name!r} in {path} cannot be loaded: {type(err).__name__}: {err}") from err


__all__ = ["MAX_RESOLUTION", "OUTPUT_TYPES", "LatentMapperPipeline", "LatentMapperPipelineOutput", "check_resolution"]
