"""Posed renders of a split at an encoder's size: what the GO-Embed encoders train and check on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from latentmapper.models.goembed import resize_views


@dataclass
class ViewSet:
    """Posed renders of a split: views (S, V, 3, s, s) in [0, 1] at the encoder's size, poses, fovs."""

    shape_ids: list[str]
    views: torch.Tensor
    poses: torch.Tensor
    fovs: torch.Tensor
    yaws: list[float]

    def select(self, rows) -> "ViewSet":
        rows = list(rows)
        return ViewSet([self.shape_ids[i] for i in rows], self.views[rows], self.poses[rows], self.fovs[rows],
                       self.yaws)


def load_view_set(dataset_dir: Path, split: str, image_size: int, limit: int | None = None,
                  chunk: int = 32) -> ViewSet:
    """Renders and cameras of ``split`` from a built dataset, resized as the encoder resizes them."""
    from datasets import load_from_disk

    rows = load_from_disk(str(dataset_dir))[split].select_columns(
        ["shape_id", "images", "camera_to_world", "camera_fov", "view_yaw"])
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    if len(rows) == 0:
        raise SystemExit(f"the {split} split of {dataset_dir} is empty")
    views = []
    for start in tqdm(range(0, len(rows), chunk), desc=f"{split} renders", unit="chunk"):
        batch = rows.select(range(start, min(start + chunk, len(rows))))["images"]
        pixels = np.stack([np.stack([np.asarray(im.convert("RGB")) for im in shape]) for shape in batch])
        views.append(resize_views(torch.from_numpy(pixels).permute(0, 1, 4, 2, 3).float() / 255.0, image_size))
    meta = rows.select_columns(["shape_id", "camera_to_world", "camera_fov", "view_yaw"]).with_format("numpy")
    poses = torch.from_numpy(np.stack([np.asarray(p, np.float32).reshape(-1, 4, 4) for p in meta["camera_to_world"]]))
    fovs = torch.from_numpy(np.stack([np.asarray(f, np.float32) for f in meta["camera_fov"]]))
    return ViewSet([str(s) for s in meta["shape_id"]], torch.cat(views), poses, fovs,
                   [float(y) for y in np.asarray(meta["view_yaw"][0])])


__all__ = ["ViewSet", "load_view_set"]
