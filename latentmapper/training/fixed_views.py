"""The image baselines' input: each shape's fixed-view render (yaw 0) as uint8 pixels, and its augmentation."""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm

from latentmapper.evaluation.views import fixed_view_index
from latentmapper.models.baselines import images_to_pixels
from latentmapper.training.augmentation import random_affine


def fixed_view_pixels(dataset_dir: Path, split: str, image_size: int, grayscale: bool, columns: tuple[str, ...] = (),
                      wanted: set[str] | None = None, batch_shapes: int = 64) -> tuple[list[str], torch.Tensor, dict]:
    """Shape ids, (N, C, S, S) uint8 pixels of each shape's yaw-0 render, and the ``columns`` asked for.

    ``wanted`` keeps only those shape ids (e.g. the shapes that have a DIT code).
    """
    from datasets import load_from_disk

    rows = load_from_disk(str(dataset_dir))[split].select_columns(["shape_id", "images", "view_yaw", *columns])
    ids, pixels, extra = [], [], {c: [] for c in columns}
    for start in tqdm(range(0, len(rows), batch_shapes), desc=f"{split} fixed views", unit="chunk"):
        chunk = rows.select(range(start, min(start + batch_shapes, len(rows))))
        keep = [i for i, sid in enumerate(chunk["shape_id"]) if wanted is None or str(sid) in wanted]
        if not keep:
            continue
        chunk = chunk.select(keep)
        images = [views[fixed_view_index(yaws)] for views, yaws in zip(chunk["images"], chunk["view_yaw"])]
        pixels.append((images_to_pixels(images, image_size, grayscale) * 255).round().to(torch.uint8))
        ids += [str(s) for s in chunk["shape_id"]]
        for c in columns:
            extra[c] += list(chunk.with_format("numpy")[c])
    if not ids:
        raise SystemExit(f"no {split} shape of {dataset_dir} is usable (none has a target)")
    return ids, torch.cat(pixels), extra


def augmented(pixels: torch.Tensor, rows: torch.Tensor, training: bool, augment: dict, seed: int) -> torch.Tensor:
    """uint8 pixels -> [0, 1] floats, randomly zoomed / rotated in training.

    The generator is seeded by the batch's row indices, which the epoch's seeded shuffle
    fixes, so a resumed run sees the same augmentation as an uninterrupted one.
    """
    x = pixels.float() / 255.0
    if not training or not augment:
        return x
    key = int((rows.long() * 2_654_435_761 % 1_000_003).sum()) + len(rows)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + key)
    return random_affine(x, generator, zoom=augment.get("zoom", (1.0, 1.0)), rotation_deg=augment.get("rotation_deg", 0.0))


__all__ = ["augmented", "fixed_view_pixels"]
