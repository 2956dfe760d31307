"""ViT key descriptors: the output of every transformer layer's key projection, per patch.

Following Amir et al. ("Deep ViT features as dense visual descriptors"), which 3D-LatentMapper
builds on, the keys of all layers are the dense descriptors: shallow layers encode where a
patch is, deep layers what it shows, and keys are less sensitive to background than tokens.

A forward hook on each layer's key projection (an ``nn.Linear``) records its output. In
transformers 5.x these modules are named ``...layers.N.attention.k_proj`` (ViT, DINO, ViTMAE),
``...layer.N.attention.k_proj`` (DINOv2) and ``...layers.N.self_attn.k_proj`` (CLIP vision);
older releases named them ``...attention.key``. Both spellings are found; modules under a
``decoder`` (ViTMAE's pre-training decoder) or a ``text_model`` are skipped.

The keys of the heads are kept concatenated (D = heads x head dim). The CLS token and any
register tokens (DINOv2 with registers) are dropped: the bag of descriptors counts image
patches, and these tokens have no place in the patch grid. ViTMAE checkpoints are run with
no masking and in patch order (``mask_ratio=0`` and an increasing ``noise``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn
from transformers import AutoConfig, AutoImageProcessor, AutoModel, CLIPVisionModel, ViTMAEModel

from ..image_io import ImageBatch, load_images
from .clip import default_device

KEY_PROJECTION_SUFFIXES = ("k_proj", "attention.key")
SKIPPED_SUBMODULES = ("decoder", "text_model")


def find_key_projections(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The key projection of every encoder layer, in layer order (``named_modules`` order)."""
    found = []
    for name, module in model.named_modules():
        if any(part.startswith(SKIPPED_SUBMODULES) for part in name.split(".")):
            continue
        if isinstance(module, nn.Linear) and name.endswith(KEY_PROJECTION_SUFFIXES):
            found.append((name, module))
    if not found:
        raise ValueError(
            f"no key projections (modules ending in {KEY_PROJECTION_SUFFIXES}) found in "
            f"{type(model).__name__}; is it a ViT-style transformer?"
        )
    return found


class KeyCapture:
    """Forward hooks that store each layer's key projection output, (B, T, D), per forward."""

    def __init__(self, model: nn.Module) -> None:
        self.names = [name for name, _ in find_key_projections(model)]
        self._modules = [module for _, module in find_key_projections(model)]
        self._handles: list = []
        self.keys: list[torch.Tensor | None] = [None] * len(self._modules)

    def _hook(self, index: int):
        def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
            self.keys[index] = output.detach()

        return hook

    def attach(self) -> "KeyCapture":
        if not self._handles:
            self._handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(self._modules)]
        return self

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def clear(self) -> None:
        self.keys = [None] * len(self._modules)

    def stacked(self) -> torch.Tensor:
        """(B, L, T, D): the keys of the last forward, all layers."""
        if any(k is None for k in self.keys):
            raise RuntimeError("not every key projection ran; was the forward pass complete?")
        return torch.stack(self.keys, dim=1)


@contextlib.contextmanager
def capture_keys(model: nn.Module) -> Iterator[KeyCapture]:
    """``with capture_keys(model) as cap: model(...)``; then ``cap.keys`` (one tensor per layer)."""
    capture = KeyCapture(model).attach()
    try:
        yield capture
    finally:
        capture.remove()


@dataclass
class ViTKeys:
    """Per-patch keys of all layers: ``keys`` (B, L, h*w, D) in row-major patch order, ``grid`` (h, w)."""

    keys: torch.Tensor
    grid: tuple[int, int]


def _patch_size(config) -> tuple[int, int]:
    size = getattr(config, "patch_size", None)
    if size is None:
        raise ValueError(f"{type(config).__name__} has no patch_size")
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _load_checked(cls, name_or_path: str, **kwargs) -> nn.Module:
    """``cls.from_pretrained``, refusing a model whose encoder weights were not all in the checkpoint."""
    model, info = cls.from_pretrained(name_or_path, output_loading_info=True, **kwargs)
    missing = [k for k in info.get("missing_keys", []) if "pooler" not in k]
    if missing:
        raise ValueError(f"{name_or_path} does not hold the weights of {len(missing)} {cls.__name__} tensors "
                         f"(e.g. {sorted(missing)[:3]}); the keys would come from random weights")
    return model


def load_vit(name_or_path: str, dtype: torch.dtype | None = None) -> nn.Module:
    """The image encoder of a ViT / DINO / DINOv2 / ViTMAE / CLIP checkpoint, ready for key hooks."""
    kwargs = {"dtype": dtype} if dtype is not None else {}
    config = AutoConfig.from_pretrained(name_or_path)
    if config.model_type == "vit_mae":
        return _load_checked(ViTMAEModel, name_or_path, mask_ratio=0.0, **kwargs)
    if config.model_type in ("clip", "clip_vision_model"):
        return _load_checked(CLIPVisionModel, name_or_path, **kwargs)
    if config.model_type == "vit":
        kwargs["add_pooling_layer"] = False
    return _load_checked(AutoModel, name_or_path, **kwargs)


class ViTKeyExtractor:
    """A ViT and its image processor; ``extractor(images)`` -> :class:`ViTKeys`."""

    def __init__(self, model: nn.Module, image_processor, name_or_path: str | None = None) -> None:
        self.model = model.eval().requires_grad_(False)
        self.image_processor = image_processor
        self.name_or_path = name_or_path
        self.config = getattr(model, "config", None)
        self.patch_size = _patch_size(self.config.vision_config if hasattr(self.config, "vision_config") else self.config)
        self.layer_names = [name for name, _ in find_key_projections(model)]
        if getattr(self.config, "model_type", None) == "vit_mae" and self.config.mask_ratio != 0:
            self.config.mask_ratio = 0.0  # keys of every patch, not a random quarter

    @classmethod
    def from_pretrained(
        cls, name_or_path: str, *, device: str | torch.device | None = None, dtype: torch.dtype | None = None
    ) -> "ViTKeyExtractor":
        device = torch.device(device) if device is not None else default_device()
        model = load_vit(name_or_path, dtype=dtype).to(device)
        return cls(model, AutoImageProcessor.from_pretrained(name_or_path), name_or_path=str(name_or_path))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def num_layers(self) -> int:
        return len(self.layer_names)

    @property
    def key_dim(self) -> int:
        return int(dict(find_key_projections(self.model))[self.layer_names[0]].out_features)

    def preprocess(self, images: ImageBatch) -> torch.Tensor:
        return self.image_processor(load_images(images), return_tensors="pt")["pixel_values"]

    @torch.inference_mode()
    def extract(self, pixel_values: torch.Tensor) -> ViTKeys:
        """(B, 3, H, W) preprocessed pixels -> the patch keys of every layer."""
        dtype = next(self.model.parameters()).dtype
        pixel_values = pixel_values.to(self.device, dtype)
        batch, _, height, width = pixel_values.shape
        grid = (height // self.patch_size[0], width // self.patch_size[1])
        kwargs = {}
        if getattr(self.config, "model_type", None) == "vit_mae":
            num_patches = grid[0] * grid[1]
            kwargs["noise"] = torch.arange(num_patches, device=self.device, dtype=torch.float32).expand(batch, -1)
        with capture_keys(self.model) as capture:
            self.model(pixel_values=pixel_values, **kwargs)
            keys = capture.stacked()  # (B, L, T, D)
        prefix = keys.shape[2] - grid[0] * grid[1]
        if prefix < 0:
            raise RuntimeError(f"{keys.shape[2]} tokens cannot hold a {grid[0]}x{grid[1]} patch grid")
        return ViTKeys(keys=keys[:, :, prefix:].float(), grid=grid)

    def __call__(self, images: ImageBatch) -> ViTKeys:
        return self.extract(self.preprocess(images))


__all__ = ["KeyCapture", "ViTKeyExtractor", "ViTKeys", "capture_keys", "find_key_projections", "load_vit"]
