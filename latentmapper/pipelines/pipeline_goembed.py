"""``GOEmbedPipeline``: 1..N posed views of one object in, a DIT latent and a mesh out, no pretrained image network.

    pipe = GOEmbedPipeline.from_pretrained("runs/goembed/car/pipeline")
    out = pipe([front, side, back], cameras=[0.0, 90.0, 180.0], output_type="glb")   # yaws, or OrbitCameras

A sibling of ``LatentMapperPipeline`` sharing its DIT decoder and meshing: the views are
encoded by GOEmbed (``latentmapper.models.goembed``), the gradient of their rendering error
at a zero 3D representation, which needs the cameras the views were taken from; the code is
meshed by the coarse-to-fine grid and marching cubes (``geometry.latent_to_mesh``). One
call reconstructs one object from however many views are given. Loading, saving and the
meshing half of a call are ``LatentMapperPipeline``'s (``base.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from huggingface_hub import ModelCard

from ..cameras import camera_tensors
from ..image_io import ImageBatch, load_images
from ..models.dit import DITDecoder
from ..models.goembed import GOEmbedEncoder
from .base import LatentMeshPipeline, MeshPipelineOutput
from .model_card import render_goembed_card


@dataclass
class GOEmbedPipelineOutput(MeshPipelineOutput):
    """latents (1, latent_size) float32; meshes: one mesh (``"trimesh"``) or GLB bytes (``"glb"``), else None;
    images: one sphere-traced preview (``"preview"``), else None; ``timings``: ``prepare``, ``goembed``,
    then the meshing stages (see ``MeshPipelineOutput``)."""


class GOEmbedPipeline(LatentMeshPipeline):
    """Posed views -> GOEmbed encoder -> DIT latent -> mesh. Components: ``goembed`` and ``dit``."""

    model_cpu_offload_seq = "goembed->dit"
    output_class = GOEmbedPipelineOutput
    empty_surface_message = "{error}; the views may not show a {category} the decoder can reconstruct"

    def __init__(self, goembed: GOEmbedEncoder, dit: DITDecoder, category: str = "object") -> None:
        super().__init__()
        self.register_modules(goembed=goembed, dit=dit)
        self.register_to_config(category=category)
        for module in (goembed, dit):
            module.eval().requires_grad_(False)

    def model_card(self, **fields) -> ModelCard:
        """The card: what the encoder reads and how to call it; ``repo_id`` names the Hub repo in its example."""
        return render_goembed_card(self, **fields)

    # ---- the steps ----------------------------------------------------------------------------
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
        return self._encode(self.prepare_views(images, cameras))

    @torch.no_grad()
    def _encode(self, views: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.goembed(*views).latent.float()

    def __call__(
        self,
        images: ImageBatch,
        cameras: Sequence,
        resolution: int = 128,
        output_type: str = "trimesh",
        preview_size: int = 128,
        return_dict: bool = True,
        workers: int | None = None,
    ) -> GOEmbedPipelineOutput | tuple:
        """Reconstruct one object from its views.

        Args:
            images: one view or a list of views (PIL, numpy, paths), square, white background.
            cameras: one camera per view: yaws in degrees (elevation 20, distance 2.6), ``OrbitCamera``s,
                dicts of their fields, or 4x4 camera-to-world poses.
            resolution: marching-cubes grid size per axis, 16 to ``MAX_RESOLUTION``.
            output_type: ``"trimesh"``, ``"glb"``, ``"latent"`` or ``"preview"``.
            workers: threads for the decoder queries on a CPU (default: one per core PyTorch uses).
        """
        clock = self._begin(output_type, resolution, preview_size)
        views = self.prepare_views(images, cameras)
        clock.lap("prepare")
        latents = self._encode(views)
        clock.lap("goembed")
        return self._finish(latents, output_type, resolution, preview_size, workers, clock, return_dict)


__all__ = ["GOEmbedPipeline", "GOEmbedPipelineOutput"]
