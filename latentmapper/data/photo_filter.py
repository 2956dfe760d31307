"""Filter a scraped photo collection with CLIP and the prompt templates (paper Sec. 3.1, Eq. 1-2).

    latentmapper data filter-photos DIR --category car --out kept.tsv [--clip PATH_OR_ID]

Each image's distance to the category is the mean, over the 74 prompt templates filled with
the category name, of the cosine distance between the image's CLIP embedding and the
template's (Eq. 1). Images farther than the mean plus two standard deviations of these
distances are dropped (Eq. 2): interiors, close-ups of details and other off-topic pictures
that a scraped collection holds. Any CLIP checkpoint with both towers works (hub id or
folder). The project's own small CLIP is trained by ``train/train_encoders.py`` into
``OUTPUT/clip`` with its word-level tokenizer; the shipped pipelines keep only its vision
tower, so the full one is looked for under ``runs/ship/encoders/clip`` unless ``--clip`` names another.

Written: ``OUT`` (kept) and ``OUT`` with ``.rejected`` before its suffix (rejected), one
``distance<TAB>path`` line per image, closest first; files that cannot be read as images are
listed in the rejected file with the distance ``unreadable``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch

from ..atomic import atomic_path

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


class Embedder(Protocol):
    """What the filter needs of a CLIP: unit-norm image and text embeddings."""

    def embed_images(self, images, batch_size: int = 64) -> torch.Tensor: ...

    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor: ...


@dataclass
class FilterResult:
    """Per-image mean template distances (Eq. 1) and the decision of Eq. 2."""

    distances: np.ndarray
    keep: np.ndarray
    mean: float
    std: float
    threshold: float


def template_distances(embedder: Embedder, images: list, category: str,
                       templates: Sequence[str] | None = None, batch_size: int = 64) -> np.ndarray:
    """(N,) mean cosine distance of each image to the category text in every template (Eq. 1).

    ``templates``: default the paper's 74 (``latentmapper.features.prompt_templates``, imported
    here: the features package loads transformers, which the dataset commands do not need).
    """
    from ..features.prompt_templates import PROMPT_TEMPLATES, fill_templates

    if not images:
        raise ValueError("no images to filter")
    templates = PROMPT_TEMPLATES if templates is None else templates
    texts = embedder.embed_texts(fill_templates(category, tuple(templates))).float()
    image_embeddings = embedder.embed_images(images, batch_size=batch_size).float().to(texts.device)
    return (1.0 - image_embeddings @ texts.T).mean(dim=1).cpu().numpy().astype(np.float64)


def threshold_distances(distances: np.ndarray, num_std: float = 2.0) -> FilterResult:
    """Keep distances up to mean + ``num_std`` standard deviations (Eq. 2)."""
    distances = np.asarray(distances, dtype=np.float64)
    mean, std = float(distances.mean()), float(distances.std())
    threshold = mean + num_std * std
    return FilterResult(distances, distances <= threshold, mean, std, threshold)


def load_clip_with_text(name_or_path: str | Path, device: str | torch.device | None = None):
    """A ``ClipEmbedder`` with both towers and the tokenizer; refuses a checkpoint without a text tower."""
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPTextModelWithProjection

    from ..features.clip import ClipEmbedder, load_clip_vision, tower_config

    from transformers.utils import logging as hf_logging

    name = str(name_or_path)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # each tower reports the other's weights as unexpected: expected here
    try:
        vision = load_clip_vision(name)
        text, info = CLIPTextModelWithProjection.from_pretrained(name, config=tower_config(name, "text"),
                                                                 output_loading_info=True)
        processor = AutoImageProcessor.from_pretrained(name)
        tokenizer = AutoTokenizer.from_pretrained(name)
    except Exception as err:
        raise ValueError(f"cannot load a CLIP with its text tower and tokenizer from {name!r}: "
                         f"{type(err).__name__}: {err}") from err
    finally:
        hf_logging.set_verbosity(verbosity)
    if info.get("missing_keys"):
        raise ValueError(f"{name} has no complete CLIP text tower ({len(info['missing_keys'])} weights missing); "
                         "filtering needs the full CLIP, e.g. train_encoders.py's OUTPUT/clip, not a pipeline's clip/")
    if device is not None:
        vision, text = vision.to(device), text.to(device)
    return ClipEmbedder(vision, processor, name_or_path=name, text_model=text, tokenizer=tokenizer)


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    pattern = "**/*" if recursive else "*"
    paths = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return paths


def rejected_path(out: Path) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}.rejected{out.suffix}")


def filter_photo_folder(folder: Path, category: str, out: Path, clip: str | Path | None = None, *,
                        num_std: float = 2.0, recursive: bool = False, embedder: Embedder | None = None) -> FilterResult:
    """Score every image of ``folder``, write the kept and rejected lists, return the result.

    ``clip``: a full CLIP (vision and text towers) by path or hub id, unless ``embedder`` is given."""
    from ..image_io import open_image

    if embedder is None:
        if clip is None:
            raise ValueError("filtering needs a CLIP with a text tower: pass --clip with a path or hub id "
                             "(e.g. train/train_encoders.py OUTPUT/clip)")
        embedder = load_clip_with_text(clip)
    paths, images, unreadable = list_images(folder, recursive), [], []
    readable = []
    for path in paths:
        try:
            images.append(open_image(path))
            readable.append(path)
        except (OSError, ValueError) as err:
            logger.warning("skipping %s: %s", path, err)
            unreadable.append(path)
    if not images:
        raise ValueError(f"none of the {len(paths)} files in {folder} could be read as an image")
    result = threshold_distances(template_distances(embedder, images, category), num_std)
    order = np.argsort(result.distances)
    kept = [f"{result.distances[i]:.6f}\t{readable[i]}" for i in order if result.keep[i]]
    rejected = [f"{result.distances[i]:.6f}\t{readable[i]}" for i in order if not result.keep[i]]
    rejected += [f"unreadable\t{path}" for path in unreadable]
    for path, lines in ((Path(out), kept), (rejected_path(out), rejected)):
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in lines))
    return result


__all__ = ["FilterResult", "filter_photo_folder", "load_clip_with_text", "rejected_path",
           "template_distances", "threshold_distances"]
