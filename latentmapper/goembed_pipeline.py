"""``GOEmbedPipeline``: 1..N posed views of one object in, a DIT latent and a mesh out, no pretrained image network.

    pipe = GOEmbedPipeline.from_pretrained("runs/goembed/car/pipeline")
    out = pipe([front, side, back], cameras=[0.0, 90.0, 180.0], output_type="glb")   # yaws, or OrbitCameras

A sibling of ``LatentMapperPipeline`` sharing its DIT decoder and meshing: the views are
encoded by GOEmbed (``latentmapper.models.goembed``), the gradient of their rendering error
at a zero 3D representation, which needs the cameras the views were taken from; the code is
meshed by the coarse-to-fine grid and marching cubes (``geometry.latent_to_mesh``). One
call reconstructs one object from however many views are given. Loading checks every file
first and reads safetensors only, exactly as ``LatentMapperPipeline`` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import PIL.Image
import torch
import trimesh
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from .geometry import EmptySurfaceError, latent_to_mesh, render_latent
from .cameras import camera_tensors
from .image_io import ImageBatch, load_images
from .mesh_io import export_mesh
from .models.dit import DITDecoder
from .models.goembed import GOEmbedEncoder
from .pipeline_files import PipelineLoadError, check_loaded_weights, check_pipeline_folder, resolve_pipeline_folder

OUTPUT_TYPES = ("trimesh", "glb", "latent", "preview")
HUB_KWARGS = ("cache_dir", "revision", "token", "local_files_only", "force_download")


@dataclass
class GOEmbedPipelineOutput(BaseOutput):
    """latents (1, latent_size) float32; meshes: one mesh (``"trimesh"``) or GLB bytes (``"glb"``), else None;
    images: one sphere-traced preview (``"preview"``), else None."""

    latents: torch.Tensor
    meshes: Union[list[trimesh.Trimesh], list[bytes], None] = None
    images: Union[list[PIL.Image.Image], None] = None


class GOEmbedPipeline(DiffusionPipeline):
    """Posed views -> GOEmbed encoder -> DIT latent -> mesh. Components: ``goembed`` and ``dit``."""

    model_cpu_offload_seq = "goembed->dit"

    def __init__(self, goembed: GOEmbedEncoder, dit: DITDecoder, category: str = "object") -> None:
        super().__init__()
        self.register_modules(goembed=goembed, dit=dit)
        self.register_to_config(category=category)
        for module in (goembed, dit):
            module.eval().requires_grad_(False)

    # ---- loading and saving ---------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> "GOEmbedPipeline":
        """Load from a local folder or a Hub repo id (offline: from the cache); files are checked first."""
        source = str(pretrained_model_name_or_path)
        if kwargs.pop("use_safetensors", True) is False:
            raise ValueError("GOEmbed pipelines load safetensors weights only (nothing is unpickled)")
        hub = {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}
        folder = resolve_pipeline_folder(source, **hub)
        expected, _ = cls._get_signature_keys(cls)
        check_pipeline_folder(folder, cls.__name__, expected)
        dtype = kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None) or torch.float32
        try:
            pipe = super().from_pretrained(str(folder), dtype=dtype, use_safetensors=True, **kwargs)
        except PipelineLoadError:
            raise
        except Exception as err:
            raise PipelineLoadError(f"cannot load the pipeline in {folder}: {type(err).__name__}: {err}") from err
        check_loaded_weights(folder, pipe)
        pipe.register_to_config(_name_or_path=source)
        return pipe

    def save_pretrained(self, save_directory: str | os.PathLike, safe_serialization: bool = True,
                        variant: str | None = None, **kwargs) -> None:
        """Components as safetensors plus ``model_index.json`` and a short model card."""
        if not safe_serialization:
            raise ValueError("GOEmbed pipelines are saved as safetensors only")
        if kwargs.get("push_to_hub"):
            raise ValueError("save locally, then upload the folder with huggingface_hub.upload_folder")
        super().save_pretrained(save_directory, safe_serialization=True, variant=variant)
        card = os.path.join(str(save_directory), "README.md")
        with open(card, "w", encoding="utf-8") as handle:
            handle.write(self.model_card_text())

    def model_card_text(self) -> str:
        c, g = self.config, self.goembed.config
        params = sum(p.numel() for p in self.goembed.parameters())
        return (
            "---\nlibrary_name: latentmapper\npipeline_tag: image-to-3d\nlicense: apache-2.0\n"
            f"tags: [image-to-3d, 3d, sdf, goembed, {c.category}]\n---\n\n"
            f"# GOEmbed {c.category} pipeline\n\n"
            "Posed views of one object in, a watertight mesh out, without a pretrained image network: "
            "the views are encoded as the gradient of their rendering error at a zero "
            f"{g.representation} representation ({g.resolution} per side, {g.feature_dim} features), "
            f"read by a small convolutional network ({params:,} parameters) into the latent of a Deep "
            "Implicit Templates decoder, then meshed with marching cubes.\n\n"
            "```python\nfrom latentmapper.goembed_pipeline import GOEmbedPipeline\n\n"
            "pipe = GOEmbedPipeline.from_pretrained(PATH)\n"
            "out = pipe([\"front.png\", \"side.png\"], cameras=[0.0, 90.0], output_type=\"glb\")  # yaws in degrees\n"
            "```\n\nCameras follow the dataset's convention: yaw about +y, elevation 20, distance 2.6, "
            "field of view 45 degrees, object in the unit sphere, white background.\n"
        )

    # ---- the steps ----------------------------------------------------------------------------
    @property
    def latent_size(self) -> int:
        return int(self.dit.config.latent_size)

    def prepare_views(self, images: ImageBatch, cameras) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images and cameras -> views (1, V, 3, H, W) in [0, 1], poses (1, V, 4, 4), fovs (1, V)."""
        pictures = load_images(images)
        poses, fovs = camera_tensors(cameras)
        if len(poses) != len(pictures):
            raise ValueError(f"got {len(pictures)} images but {len(poses)} cameras; give one camera per view")
        sizes = {p.size for p in pictures}
        if len(sizes) != 1 or any(w != h for w, h in sizes):
            raise ValueError(f"views must be square and all the same size (the cameras assume it), got sizes "
                             f"{sorted(sizes)}")
        pixels = np.stack([np.asarray(p, dtype=np.float32) / 255.0 for p in pictures])
        param = next(self.goembed.parameters())
        views = torch.from_numpy(pixels).permute(0, 3, 1, 2)[None].to(param.device, param.dtype)
        return views, poses[None].to(param.device, param.dtype), fovs[None].to(param.device, param.dtype)

    def encode_views(self, images: ImageBatch, cameras) -> torch.Tensor:
        """Posed views of one object -> (1, latent_size) DIT latent."""
        views, poses, fovs = self.prepare_views(images, cameras)
        with torch.no_grad():
            return self.goembed(views, poses, fovs).latent.float()

    @torch.no_grad()
    def decode_latent(self, latent: torch.Tensor, resolution: int = 128) -> trimesh.Trimesh:
        latent = torch.as_tensor(latent, dtype=torch.float32).reshape(-1)
        if latent.shape != (self.latent_size,):
            raise ValueError(f"decode_latent takes one latent of size {self.latent_size}, got {tuple(latent.shape)}")
        return latent_to_mesh(self.dit, latent, resolution)

    def __call__(
        self,
        images: ImageBatch,
        cameras: Sequence,
        resolution: int = 128,
        output_type: str = "trimesh",
        preview_size: int = 128,
        return_dict: bool = True,
    ) -> GOEmbedPipelineOutput | tuple:
        """Reconstruct one object from its views.

        Args:
            images: one view or a list of views (PIL, numpy, paths), square, white background.
            cameras: one camera per view: yaws in degrees (elevation 20, distance 2.6), ``OrbitCamera``s,
                dicts of their fields, or 4x4 camera-to-world poses.
            resolution: marching-cubes grid size per axis.
            output_type: ``"trimesh"``, ``"glb"``, ``"latent"`` or ``"preview"``.
        """
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        if (not isinstance(resolution, (int, np.integer)) or isinstance(resolution, bool)
                or not 16 <= resolution <= 1024):
            raise ValueError(f"resolution must be an integer in [16, 1024], got {resolution!r}")
        latents = self.encode_views(images, cameras)
        meshes = previews = None
        if output_type in ("trimesh", "glb"):
            try:
                mesh = self.decode_latent(latents[0], resolution)
            except EmptySurfaceError as err:
                raise EmptySurfaceError(
                    f"{err}; the views may not show a {self.config.category} the decoder can reconstruct") from None
            meshes = [export_mesh(mesh, "glb") if output_type == "glb" else mesh]
        elif output_type == "preview":
            previews = [render_latent(self.dit, latents[0], size=preview_size)]
        if not return_dict:
            return latents, meshes, previews
        return GOEmbedPipelineOutput(latents=latents, meshes=meshes, images=previews)


__all__ = ["GOEmbedPipeline", "GOEmbedPipelineOutput"]
