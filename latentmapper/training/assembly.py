"""A LatentMapperPipeline put together from the training runs' folders, as it is shipped.

Each stage's output folder (or the component folder inside it) gives one component;
processors come from the encoder folders. Halving stores the parameters in float16 and
keeps buffers (the codebook's centroids, the mapper's normalisation statistics) in float32,
so word assignments are exactly those of training.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoImageProcessor

from latentmapper.features import load_clip_vision, load_vit
from latentmapper.features import KeyCodebook
from latentmapper.models import DescriptorAutoencoder, DITDecoder, LatentMapper
from latentmapper.pipelines import LatentMapperPipeline

HALF_COMPONENTS = ("clip", "vit", "autoencoder", "mapper", "dit")


def component_dir(folder: Path, inner: str) -> Path:
    """``folder`` itself when it holds a config, else ``folder/inner``."""
    folder = Path(folder)
    for candidate in (folder, folder / inner):
        if (candidate / "config.json").is_file():
            return candidate
    raise SystemExit(f"no {inner} component in {folder} (looked for config.json in it and in {folder / inner})")


def infer_category(features: Path) -> str:
    """The dataset category recorded by precompute_features.py and the dataset build, else "object"."""
    try:
        dataset = Path(json.loads((Path(features) / "features.json").read_text())["dataset"])
        return str(json.loads((dataset / "latentmapper_build.json").read_text())["category"])
    except (OSError, KeyError, ValueError):
        return "object"


def assemble(encoders: Path, features: Path, autoencoder: Path, mapper: Path, dit: Path,
             category: str = "object") -> LatentMapperPipeline:
    """Load every stage's component (float32, CPU) into one pipeline."""
    clip_dir, vit_dir = component_dir(encoders, "clip"), component_dir(encoders, "vit")
    return LatentMapperPipeline(
        clip=load_clip_vision(str(clip_dir)),
        clip_processor=AutoImageProcessor.from_pretrained(str(clip_dir)),
        vit=load_vit(str(vit_dir)),
        vit_processor=AutoImageProcessor.from_pretrained(str(vit_dir)),
        codebook=KeyCodebook.from_pretrained(component_dir(features, "codebook")),
        autoencoder=DescriptorAutoencoder.from_pretrained(component_dir(autoencoder, "autoencoder")),
        mapper=LatentMapper.from_pretrained(component_dir(mapper, "mapper")),
        dit=DITDecoder.from_pretrained(component_dir(dit, "decoder")),
        category=category,
    )


@torch.no_grad()
def halve_parameters(pipe: LatentMapperPipeline) -> None:
    """Parameters to float16 in place; buffers stay float32 (see the module doc)."""
    for name in HALF_COMPONENTS:
        for param in getattr(pipe, name).parameters():
            param.data = param.data.half()


__all__ = ["assemble", "component_dir", "halve_parameters", "infer_category"]
