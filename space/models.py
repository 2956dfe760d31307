"""The pipelines the Space serves, loaded once at start-up (never per request).

By default the two shipped pipelines (car, airplane); ``python app.py --model ID_OR_PATH``
serves one pipeline from a folder or a Hub repo id instead, named by its category. A pipeline
without a ``matting`` component gets the checkout's matting U-Net (``checkpoints/photo-matting``)
for photo mode; the library itself never looks into ``checkpoints/``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from diffusers import UNet2DModel

from latentmapper import LatentMapperPipeline

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODELS = {
    "car": ROOT / "checkpoints" / "latentmapper-car",
    "airplane": ROOT / "checkpoints" / "latentmapper-airplane",
}
SHIPPED_MATTING = ROOT / "checkpoints" / "photo-matting"

logger = logging.getLogger(__name__)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_pipelines(model: str | None = None, device: str | None = None) -> dict[str, LatentMapperPipeline]:
    """``{category: pipeline}``: the shipped pair, or the one pipeline ``model`` names."""
    device = device or default_device()
    sources = {None: model} if model else dict(SHIPPED_MODELS)
    matting = UNet2DModel.from_pretrained(str(SHIPPED_MATTING)).float() if SHIPPED_MATTING.is_dir() else None
    pipelines: dict[str, LatentMapperPipeline] = {}
    for name, source in sources.items():
        pipe = LatentMapperPipeline.from_pretrained(str(source))
        if pipe.matting is None and matting is not None:
            pipe.matting = matting  # one U-Net shared by the pipelines: it is only read
        pipe.to(device).set_progress_bar_config(disable=True)
        pipelines[name or str(pipe.config.category)] = pipe
        logger.info("loaded %s pipeline from %s on %s", name or pipe.config.category, source, device)
    return pipelines
