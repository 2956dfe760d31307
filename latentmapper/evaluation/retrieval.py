"""Nearest-neighbour retrieval by CLIP embedding: the baseline that only looks training shapes up.

The training side is every render (all 9 views) of every training shape, embedded with the
same CLIP the query goes through; the embeddings are cached in a safetensors file with the
shape ids in its metadata, so a resumed evaluation does not embed the training split again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from ..atomic import atomic_path


def nearest_training_shapes(test_clip: torch.Tensor, train_clip: torch.Tensor) -> torch.Tensor:
    """(S, V, D) query and (T, V', D) training CLIP embeddings -> (S, V) index of the closest training shape.

    Cosine similarity against every view of every training shape; the best view decides.
    """
    sim = F.normalize(test_clip.flatten(0, 1), dim=-1) @ F.normalize(train_clip.flatten(0, 1), dim=-1).T
    return (sim.argmax(dim=1) // train_clip.shape[1]).reshape(test_clip.shape[:2])


def training_clip_embeddings(
    embed: Callable[[list], torch.Tensor], dataset_dir: str | Path, cache: str | Path, *, split: str = "train",
    source: str = "", batch_shapes: int = 16, progress: bool = True,
) -> tuple[list[str], torch.Tensor]:
    """(shape ids, (T, V, D) embeddings) of every render of ``split``, from ``cache`` when it has them.

    ``source`` names the embedding model (e.g. a digest of its weights); a cache made by another is redone.
    """
    from datasets import load_from_disk

    cache = Path(cache)
    dataset = str(Path(dataset_dir).resolve())
    if cache.is_file():
        with safe_open(str(cache), framework="pt") as f:
            meta = f.metadata()
            if meta.get("dataset") == dataset and meta.get("split") == split and meta.get("source") == source:
                return json.loads(meta["shape_ids"]), f.get_tensor("clip")
    rows = load_from_disk(str(dataset_dir))[split].select_columns(["shape_id", "images"])
    ids, chunks = [], []
    for start in tqdm(range(0, len(rows), batch_shapes), desc=f"CLIP of the {split} renders", disable=not progress):
        chunk = rows.select(range(start, min(start + batch_shapes, len(rows))))
        views = chunk["images"]
        flat = [image.convert("RGB") for shape_views in views for image in shape_views]
        chunks.append(embed(flat).float().cpu().reshape(len(views), len(views[0]), -1))
        ids += [str(s) for s in chunk["shape_id"]]
    embeddings = torch.cat(chunks).contiguous()
    with atomic_path(cache) as tmp:
        save_file({"clip": embeddings}, str(tmp),
                  metadata={"shape_ids": json.dumps(ids), "dataset": dataset, "split": split, "source": source})
    return ids, embeddings


__all__ = ["nearest_training_shapes", "training_clip_embeddings"]
