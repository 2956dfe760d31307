"""GOEmbed (Karnewar et al., "Gradient Origin Embeddings"): posed views -> DIT latent, no pretrained image network.

The views are encoded into a 3D representation (a feature voxel grid or a triplane) by one
gradient: render the zero representation from the views' cameras, take the rendering error
against the views, and use the negative gradient of that error at the zero origin as the
embedding (as in Gradient Origin Networks). All views enter one error, so 1, 3 or 9 views
need no change in the model. The embedding is then read by a 3D (voxel) or 2D (triplane,
planes stacked as channels) convolutional network that regresses the DIT latent and, when
``decode_representation`` is set, also decodes a representation that can be re-rendered.

Trained end to end through the gradient (``create_graph=True``), so the shared decoder MLP
that defines the rendering also learns what the embedding should carry. The error is a sum
over pixels averaged over views: the gradient keeps its size when views are added, which is
what lets one network take any number of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from torch import nn

from ..geometry.volume_rendering import check_representation, render_representation, representation_shape
from .radiance_decoder import RadianceDecoder


@dataclass
class GOEmbedOutput(BaseOutput):
    """latent (B, latent_size); embedding (B, *representation shape); representation: decoded, or None."""

    latent: torch.Tensor
    embedding: torch.Tensor
    representation: torch.Tensor | None = None


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


def resize_views(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, V, 3, H, W) square views -> (B, V, 3, size, size), pixel centres kept where the cameras put them.

    Area averaging for whole-number factors (the renders are supersampled the same way),
    antialiased bilinear otherwise.
    """
    if images.dim() != 5 or images.shape[2] != 3 or images.shape[3] != images.shape[4]:
        raise ValueError(f"views must be (B, V, 3, H, W) square RGB images, got {tuple(images.shape)}")
    if images.shape[-1] == size:
        return images
    flat = images.flatten(0, 1)
    if images.shape[-1] % size == 0:
        flat = F.interpolate(flat, size=(size, size), mode="area")
    else:
        flat = F.interpolate(flat, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return flat.reshape(*images.shape[:2], 3, size, size)


class ConvTrunk(nn.Module):
    """Strided convolutions (2D or 3D) down to a small grid, a latent head, and an optional U-Net decoder."""

    def __init__(self, dims: int, in_channels: int, out_channels: int, resolution: int, channels: list[int],
                 head_channels: int, head_hidden: int, latent_size: int, decode: bool) -> None:
        super().__init__()
        conv = nn.Conv3d if dims == 3 else nn.Conv2d
        self.dims = dims
        self.stem = nn.Sequential(conv(in_channels, channels[0], 3, padding=1),
                                  nn.GroupNorm(_groups(channels[0]), channels[0]), nn.SiLU())
        self.down = nn.ModuleList(
            nn.Sequential(conv(c_in, c_out, 3, stride=2, padding=1), nn.GroupNorm(_groups(c_out), c_out), nn.SiLU())
            for c_in, c_out in zip(channels[:-1], channels[1:])
        )
        low = resolution // 2 ** (len(channels) - 1)
        if low < 1 or resolution % 2 ** (len(channels) - 1):
            raise ValueError(f"resolution {resolution} cannot be halved {len(channels) - 1} times")
        self.squeeze = conv(channels[-1], head_channels, 1)
        self.head = nn.Sequential(nn.Linear(head_channels * low**dims, head_hidden), nn.SiLU(),
                                  nn.Linear(head_hidden, latent_size))
        self.up = None
        if decode:
            self.up = nn.ModuleList(
                nn.Sequential(conv(c_low + c_skip, c_skip, 3, padding=1), nn.GroupNorm(_groups(c_skip), c_skip),
                              nn.SiLU())
                for c_low, c_skip in zip(channels[:0:-1], channels[-2::-1])
            )
            self.to_representation = conv(channels[0], out_channels, 3, padding=1)
            nn.init.zeros_(self.to_representation.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(skips[-1]))
        head = self.head(self.squeeze(skips[-1]).flatten(1))
        if self.up is None:
            return head, None
        y = skips[-1]
        for block, skip in zip(self.up, skips[-2::-1]):
            y = F.interpolate(y, size=skip.shape[2:], mode="trilinear" if self.dims == 3 else "bilinear",
                              align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        return head, self.to_representation(y)


VIEW_POOLING = {"mean": 1, "mean_max_min": 3}  # how the views' embeddings reach the trunk: channel multiple


class GOEmbedEncoder(ModelMixin, ConfigMixin):
    """Posed views (B, V, 3, H, W) in [0, 1] with cameras (B, V, 4, 4) and fovs (B, V) -> DIT latents (B, L).

    ``representation``: ``"voxel"`` (feature grid ``resolution``^3 x ``feature_dim``) or
    ``"triplane"`` (3 planes ``resolution``^2 x ``feature_dim``). Views are resized to
    ``image_size`` before the embedding is taken; ``samples_per_ray`` points per ray are
    looked up inside the cube [-bound, bound]^3 (the shapes live in the unit sphere).
    ``view_pooling``: what the trunk reads of several views (``pooled_embedding``).
    """

    @register_to_config
    def __init__(
        self,
        representation: str = "voxel",
        resolution: int = 16,
        feature_dim: int = 8,
        decoder_hidden_size: int = 32,
        decoder_layers: int = 2,
        density_at_origin: float = 0.2,
        image_size: int = 32,
        samples_per_ray: int = 32,
        bound: float = 1.0,
        embedding_scale: float = 1000.0,
        channels: tuple[int, ...] = (24, 48, 96),
        head_channels: int = 16,
        head_hidden_size: int = 128,
        latent_size: int = 64,
        decode_representation: bool = False,
        view_pooling: str = "mean",
    ) -> None:
        super().__init__()
        check_representation(representation)
        if view_pooling not in VIEW_POOLING:
            raise ValueError(f"view_pooling must be one of {', '.join(VIEW_POOLING)}, got {view_pooling!r}")
        self.decoder = RadianceDecoder(feature_dim, decoder_hidden_size, decoder_layers, density_at_origin)
        planes = 1 if representation == "voxel" else 3
        self.trunk = ConvTrunk(
            dims=3 if representation == "voxel" else 2, in_channels=planes * feature_dim * VIEW_POOLING[view_pooling],
            out_channels=planes * feature_dim, resolution=resolution, channels=list(channels),
            head_channels=head_channels, head_hidden=head_hidden_size, latent_size=latent_size,
            decode=decode_representation,
        )
        self.register_buffer("latent_mean", torch.zeros(latent_size))
        self.register_buffer("latent_std", torch.ones(latent_size))

    def pooled_embedding(self, images: torch.Tensor, camera_to_world: torch.Tensor,
                         fov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the embedding of all views, what the trunk reads): with ``view_pooling="mean"`` the two are one.

        ``"mean_max_min"``: each view is embedded alone (B*V embeddings, the same rendering
        work), and the trunk reads their mean (exactly the all-view embedding, the error
        being averaged over views), max and min over the views, stacked as channels. Max and
        min keep what one view alone shows and where the views agree (a visual-hull-like
        intersection) instead of diluting each view by 1/V; still symmetric in the views.
        """
        if self.config.view_pooling == "mean":
            embedding = self.embed(images, camera_to_world, fov)
            return embedding, embedding
        batch, views = images.shape[:2]
        single = self.embed(images.flatten(0, 1)[:, None], camera_to_world.flatten(0, 1)[:, None],
                            fov.flatten(0, 1)[:, None])
        single = single.reshape(batch, views, *single.shape[1:])
        embedding = single.mean(1)
        channel = 1 if self.config.representation == "voxel" else 2
        pooled = torch.cat([embedding, single.amax(1), single.amin(1)], dim=channel)
        return embedding, pooled

    @torch.no_grad()
    def set_normalization(self, latents: torch.Tensor, eps: float = 1e-4) -> None:
        """Per-dimension mean/std of the (N, L) training codes: the head predicts on a unit scale."""
        self.latent_mean.copy_(latents.mean(0))
        self.latent_std.copy_(latents.std(0).clamp_min(eps) if len(latents) > 1 else torch.ones_like(self.latent_std))

    @property
    def representation_shape(self) -> tuple[int, ...]:
        c = self.config
        return representation_shape(c.representation, c.resolution, c.feature_dim)

    def prepare_views(self, images: torch.Tensor) -> torch.Tensor:
        """(B, V, 3, H, W) square views in [0, 1] -> (B, V, 3, S, S) at the encoder's ``image_size``."""
        return resize_views(images, int(self.config.image_size))

    def render(self, representation: torch.Tensor, camera_to_world: torch.Tensor, fov: torch.Tensor,
               size: int | None = None, decoder=None) -> torch.Tensor:
        """Images (B, V, 3, size, size) of representations (B, ...) through the shared decoder."""
        c = self.config
        return render_representation(c.representation, representation, decoder or self.decoder, camera_to_world,
                                     fov, size or c.image_size, c.samples_per_ray, c.bound, self.decoder.background)

    def rendering_error(self, representation: torch.Tensor, images: torch.Tensor, camera_to_world: torch.Tensor,
                        fov: torch.Tensor, decoder=None) -> torch.Tensor:
        """Per shape (B,): squared error summed over pixels, averaged over views (views already resized)."""
        rendered = self.render(representation, camera_to_world, fov, images.shape[-1], decoder)
        return (rendered - images).square().flatten(2).sum(-1).mean(-1)

    def embed(self, images: torch.Tensor, camera_to_world: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        """The gradient origin embedding: minus d(error)/d(representation) at the zero representation.

        Differentiable (``create_graph``) whenever autograd is on, so training reaches the
        decoder MLP through the gradient; at inference (no grad) only the embedding is computed.

        Two exact shortcuts keep it cheap. Only the gradient at zero is taken, so the decoder
        MLP can be replaced by its linearisation there, ``raw(f) = raw(0) + J f`` (same value,
        same gradient, same derivatives of that gradient w.r.t. the weights). And because the
        look-up is linear and acts on each channel alike, ``J`` commutes with it: the gradient
        w.r.t. the C feature channels is ``J^T`` times the gradient w.r.t. a representation of
        the decoder's 4 outputs, which is what is rendered (4 channels looked up, not C).
        """
        views = self.prepare_views(images)
        _check_cameras(views, camera_to_world, fov)
        c = self.config
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            raw_at_origin, jacobian = self.decoder.linearized_at_origin(c.feature_dim, views, keep_graph)
            shape = representation_shape(c.representation, c.resolution, jacobian.shape[0])
            origin = views.new_zeros(views.shape[0], *shape, requires_grad=True)
            field = lambda raw: self.decoder.activate(raw_at_origin + raw, raw_at_origin)  # noqa: E731
            error = self.rendering_error(origin, views, camera_to_world.to(views), fov.to(views), field).sum()
            (grad,) = torch.autograd.grad(error, origin, create_graph=keep_graph)
        equation = "kc,bkzyx->bczyx" if c.representation == "voxel" else "kc,bpkuv->bpcuv"
        return -torch.einsum(equation, jacobian, grad) * c.embedding_scale

    def forward(self, images: torch.Tensor, camera_to_world: torch.Tensor, fov: torch.Tensor,
                return_dict: bool = True) -> GOEmbedOutput | tuple:
        """Views (B, V, 3, H, W) in [0, 1], poses (B, V, 4, 4), fovs in degrees (B, V) -> latents."""
        embedding, pooled = self.pooled_embedding(images, camera_to_world, fov)
        batch = embedding.shape[0]
        x = pooled if self.config.representation == "voxel" else pooled.flatten(1, 2)
        head, decoded = self.trunk(x)
        latent = head * self.latent_std + self.latent_mean
        if decoded is not None:
            decoded = decoded.reshape(batch, *self.representation_shape)
        out = GOEmbedOutput(latent=latent, embedding=embedding, representation=decoded)
        return out if return_dict else out.to_tuple()


def _check_cameras(views: torch.Tensor, camera_to_world: torch.Tensor, fov: torch.Tensor) -> None:
    if tuple(camera_to_world.shape) != (*views.shape[:2], 4, 4) or tuple(fov.shape) != tuple(views.shape[:2]):
        raise ValueError(
            f"{views.shape[1]} views of {views.shape[0]} shapes need poses of shape {(*views.shape[:2], 4, 4)} and "
            f"fovs of shape {tuple(views.shape[:2])}; got {tuple(camera_to_world.shape)} and {tuple(fov.shape)}"
        )


__all__ = ["ConvTrunk", "GOEmbedEncoder", "GOEmbedOutput", "VIEW_POOLING", "resize_views"]
