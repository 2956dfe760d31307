"""Background removers: ``image -> (H, W) alpha in [0, 1]``, loaded by name, path or hub id.

Three back-ends share the interface: the classical matting (``matting``, no weights), the
matting U-Net (``learned_matting``, ``train/train_matting.py``'s output) and a DETR panoptic
model (``detr``, the paper's). Weights are found only by the path or hub id given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .learned_matting import LearnedMatting
from .matting import ClassicalMatting

BackgroundRemover = Callable[[Image.Image], np.ndarray]  # image -> (H, W) alpha in [0, 1]


def load_background_remover(name_or_path: str | Path | None = None, *, category: str | None = None,
                            **kwargs) -> BackgroundRemover:
    """A background remover: the classical matting (``None`` or ``"classical"``, no weights), a
    matting U-Net (``train/train_matting.py``'s output, e.g. a checkout's ``checkpoints/photo-matting``)
    or a DETR panoptic model, by hub id or path; which of the two is read from the checkpoint's
    ``config.json``. ``category`` picks DETR's segment; the matting U-Net is category-agnostic."""
    if name_or_path is None or str(name_or_path) == "classical":
        return ClassicalMatting(**kwargs)
    if _is_matting_unet(name_or_path, **kwargs):
        return LearnedMatting.from_pretrained(name_or_path, **kwargs)
    from .detr import DetrPanopticRemover

    return DetrPanopticRemover.from_pretrained(name_or_path, category=category, **kwargs)


def _is_matting_unet(name_or_path: str | Path, **hub_kwargs) -> bool:
    """Whether the checkpoint's config names diffusers' ``UNet2DModel`` (DETR's names ``model_type``)."""
    from diffusers import UNet2DModel

    folder = Path(name_or_path)
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise OSError(f"{folder} holds no config.json: not a background-removal checkpoint")
    keep = {k: hub_kwargs[k] for k in ("revision", "cache_dir", "token", "local_files_only") if k in hub_kwargs}
    try:
        config = UNet2DModel.load_config(str(name_or_path), **keep)
    except OSError:
        if folder.is_dir():  # a local config that cannot be read: say so
            raise
        return False  # offline or not a repo: let the DETR loader give its own error
    return config.get("_class_name") == "UNet2DModel"


__all__ = ["BackgroundRemover", "load_background_remover"]
