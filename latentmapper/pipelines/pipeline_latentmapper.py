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
component, all weights safetensors; loading, saving and the meshing half of a call are
shared with ``GOEmbedPipeline`` (``base.py``).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Iterator, Sequence

import PIL.Image
import torch
from diffusers import ModelMixin, UNet2DModel
from huggingface_hub import ModelCard
from transformers import CLIPVisionModelWithProjection, PreTrainedModel
from transformers.image_processing_base import ImageProcessingMixin

from ..features import ClipEmbedder, ViTKeyExtractor, load_clip_vision, load_vit, mapper_features
from ..features.codebook import KeyCodebook
from ..image_io import ImageBatch, load_images
from ..models import DescriptorAutoencoder, DITDecoder, LatentMapper
from ..photo import FramingReference, photo_mode as photo_mode_images, translate_to_renders
from ..torch_threads import single_torch_thread
from .base import LatentMeshPipeline, MeshPipelineOutput
from .model_card import render_model_card

_FEATURE_LOCK = threading.Lock()


@dataclass
class LatentMapperPipelineOutput(MeshPipelineOutput):
    """What ``pipe(...)`` returns, one entry per input image (fields: ``MeshPipelineOutput``); ``timings``
    has the stages ``prepare``, ``features``, ``mapper``, then ``sdf_grid``, ``marching_cubes`` and
    ``export`` or ``preview`` as the output type needs."""


class LatentMapperPipeline(LatentMeshPipeline):
    """Single-view reconstruction: CLIP + ViT-key features -> mapper -> DIT latent -> mesh.

    Components: ``clip`` (CLIP vision tower with projection) and ``clip_processor``; ``vit``
    (any ViT-style encoder whose key projections are hooked) and ``vit_processor``;
    ``codebook`` (k-means words of the keys), ``autoencoder`` (bag -> code), ``mapper``
    (code + CLIP -> latent), ``dit`` (latent -> SDF); optional, for photo mode (``latentmapper.photo``):
    ``translator`` (a real-to-synthetic image translator), ``framing`` (the category's render framing
    statistics) and ``matting`` (a matting U-Net). ``category`` names what the decoder was trained on.
    """

    model_cpu_offload_seq = "clip->vit->autoencoder->mapper->dit"
    _optional_components = ["translator", "framing", "matting"]  # the last three: photo mode
    output_class = LatentMapperPipelineOutput
    # transformers would fill missing weights at random, with a warning; these loaders refuse instead
    preloaded_components = {"clip": load_clip_vision, "vit": load_vit}
    empty_surface_message = ("image {index}: {error}; the image may not show a {category} the decoder can "
                             "reconstruct")

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
        framing: FramingReference | None = None,
        matting: UNet2DModel | None = None,
    ) -> None:
        super().__init__()
        self.register_modules(
            clip=clip, clip_processor=clip_processor, vit=vit, vit_processor=vit_processor, codebook=codebook,
            autoencoder=autoencoder, mapper=mapper, dit=dit, translator=translator,
            framing=framing, matting=matting,
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

    def model_card(self, **fields) -> ModelCard:
        """The card: ``repo_id``, ``evaluation``, ``training_data``, ``results`` (see ``model_card.py``)."""
        return render_model_card(self, **fields)

    # ---- the steps ----------------------------------------------------------------------------
    @torch.no_grad()
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
        if photo_mode:
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
        workers: int | None = None,
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
            workers: threads for the decoder queries on a CPU (default: one per core PyTorch uses); the mesh
                is the same for any count.

        The output's ``timings`` say how long each stage took. An image whose latent has no surface raises
        ``EmptySurfaceError``, whose ``timings`` hold the stages run until then.
        """
        del generator  # deterministic: nothing is sampled
        clock = self._begin(output_type, resolution, preview_size)
        images = self.prepare_images(image, real_to_synthetic, photo_mode)
        clock.lap("prepare")
        features = self.encode_features(images)
        clock.lap("features")
        latents = self.map_features(*features)
        clock.lap("mapper")
        return self._finish(latents, output_type, resolution, preview_size, workers, clock, return_dict)


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


__all__ = ["LatentMapperPipeline", "LatentMapperPipelineOutput"]
