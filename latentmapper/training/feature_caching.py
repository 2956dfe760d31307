"""The features the mapper stages cache, computed: the key codebook, then CLIP and bag vectors per view.

For each split, shape and view, the CLIP embedding and the bag vector, written as
:mod:`latentmapper.training.cached_features` reads them; also for zoomed / rotated copies of
the training views (the paper's augmentation) and for renders from cameras between them
(novel views). Work is cached in chunks, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import trimesh
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from latentmapper.atomic import atomic_path
from latentmapper.cameras import OrbitCamera, novel_cameras
from latentmapper.data.render import render_mesh
from latentmapper.evaluation.shapes import RenderSettings
from latentmapper.features import ClipEmbedder, ViTKeyExtractor
from latentmapper.features.codebook import KeyCodebook, fit_codebook, subsample_descriptors
from latentmapper.training.augmentation import random_affine

SPLITS = ("train", "validation", "test")
COLUMNS = ["shape_id", "images", "view_yaw"]
NOVEL_VIEW_COLUMNS = ["shape_id", "vertices", "faces", "face_colors", "view_yaw", "view_elevation", "camera_distance",
                      "camera_fov"]
NOVEL_VIEW_SPLITS = ("train", "validation")


def fit_key_codebook(split, extractor: ViTKeyExtractor, config: dict) -> KeyCodebook:
    """Keys of N random (shape, view) renders of the training split, subsampled, clustered."""
    rng = np.random.default_rng(config["seed"])
    num_views = len(split[0]["view_yaw"])
    total = len(split) * num_views
    picks = np.sort(rng.choice(total, size=min(config["codebook_images"], total), replace=False))
    generator = torch.Generator().manual_seed(config["seed"])
    pooled = []
    shapes = sorted(set(int(p) // num_views for p in picks))
    rows = {}
    for start in range(0, len(shapes), 16):
        chunk = shapes[start : start + 16]
        for index, images in zip(chunk, split.select(chunk)["images"]):
            rows[index] = images
    images = [rows[int(p) // num_views][int(p) % num_views] for p in picks]
    for start in tqdm(range(0, len(images), config["batch_images"]), desc="codebook keys"):
        batch_images = images[start : start + config["batch_images"]]
        keys = extractor(batch_images).keys.cpu()  # (B, L, P, D)
        pooled.append(subsample_descriptors(keys, config["descriptor_fraction"], generator))
    descriptors = torch.cat(pooled)
    print(f"clustering {descriptors.shape[0]} descriptors of dimension {descriptors.shape[1]} "
          f"from {len(images)} renders into {config['num_words']} words")
    return fit_codebook(descriptors, num_layers=extractor.num_layers, num_words=config["num_words"],
                        grid_size=config["grid_size"], normalize=config["normalize"],
                        batch_size=config["kmeans_batch_size"], seed=config["seed"],
                        assignment_temperature=config.get("assignment_temperature", 0.0))


def base_settings(settings: dict) -> dict:
    """What the codebook and the clean features depend on: the augmentation only makes an extra file,
    so features made before it was configured can be resumed to add it."""
    config = {k: v for k, v in settings["config"].items() if k not in ("augment", "novel_views", "_comment")}
    return {**settings, "config": config}


def stored_augment(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("augment", "{}"))


def _chunk_path(partial: Path, split: str, start: int) -> Path:
    return partial / f"{split}-{start:06d}.safetensors"


def augmented_images(images: list, augment: dict, seed: int) -> list:
    """The paper's training augmentation (random zoom in/out and rotation, white fill; ``augment["shift"]``
    also moves them by up to that fraction of the side) of PIL renders.

    ``augment["copies"]`` copies of each image, grouped per input image: [a0, a1, ..., b0, b1, ...].
    """
    copies = int(augment["copies"])
    pixels = torch.stack([torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1) for image in images])
    pixels = pixels.repeat_interleave(copies, 0).float() / 255.0
    generator = torch.Generator().manual_seed(seed)
    moved = random_affine(pixels, generator, zoom=augment["zoom"], rotation_deg=augment["rotation_deg"],
                          shift=augment.get("shift", 0.0))
    moved = (moved.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(array) for array in moved]


def novel_view_cameras(row: dict, novel: dict) -> list[OrbitCamera]:
    """A shape's ``novel["per_shape"]`` cameras between its training views, from ``novel["seed"]`` and its id
    (so a resumed run renders the same views)."""
    training = [OrbitCamera(float(y), float(e), float(d), float(f)) for y, e, d, f in
                zip(row["view_yaw"], row["view_elevation"], row["camera_distance"], row["camera_fov"])]
    rng = np.random.default_rng([int(novel["seed"]), zlib.crc32(str(row["shape_id"]).encode())])
    return novel_cameras(training, int(novel["per_shape"]), rng)


def novel_view_images(rows, novel: dict, render: RenderSettings) -> list:
    """Each shape's mesh rendered from its novel cameras, as the dataset renders its views."""
    images = []
    for row in rows:
        mesh = trimesh.Trimesh(np.asarray(row["vertices"], dtype=np.float64).reshape(-1, 3),
                               np.asarray(row["faces"], dtype=np.int64).reshape(-1, 3), process=False)
        colors = np.asarray(row["face_colors"], dtype=np.uint8).reshape(-1, 3)
        for camera in novel_view_cameras(row, novel):
            images.append(render_mesh(mesh, camera, render.image_size, colors, render.supersample))
    return images


def novel_view_metadata(rows, novel: dict) -> dict:
    """Novel views have no yaw shared by all shapes: each shape's (yaw, elevation) pairs instead."""
    cameras = {str(row["shape_id"]): [[round(c.yaw, 4), round(c.elevation, 4)] for c in novel_view_cameras(row, novel)]
               for row in rows.select_columns(["shape_id", "view_yaw", "view_elevation", "camera_distance",
                                               "camera_fov"])}
    return {"view_yaw": [], "cameras": cameras}


def dataset_views(rows, start: int) -> list:
    return [image for views in rows["images"] for image in views]


def training_view_metadata(rows, num_views: int) -> dict:
    """The dataset's yaws, each repeated for its copies: the same for every shape."""
    yaws = rows[0]["view_yaw"]
    return {"view_yaw": [float(y) for y in yaws for _ in range(max(1, num_views // len(yaws)))][:num_views]}


@torch.no_grad()
def featurize_split(name: str, split, clip: ClipEmbedder, extractor: ViTKeyExtractor, codebook: KeyCodebook,
                    config: dict, partial: Path, out: Path, augment: dict | None = None,
                    images_of: Callable[..., list] = dataset_views, variant: dict | None = None,
                    metadata_of: Callable[..., dict] = training_view_metadata) -> None:
    """CLIP and bag features of every view of every shape, chunk by chunk, then one file.

    With ``augment``, each view is replaced by ``augment["copies"]`` randomly zoomed and rotated
    copies (seeded by the chunk, so a resumed run makes the same ones). ``images_of(rows, start)``
    gives a chunk's images (the dataset's renders by default) and ``metadata_of(rows, views)`` where
    they were seen from; ``variant`` names what it makes, so that a chunk cached under other
    settings is made again.
    """
    variant = variant if variant is not None else (augment or {})
    chunk = config["chunk_shapes"]
    starts = list(range(0, len(split), chunk))
    for start in tqdm(starts, desc=f"features {name}", unit="chunk"):
        path = _chunk_path(partial, name, start)
        if path.is_file() and stored_augment(path) == variant:
            continue
        rows = split.select(range(start, min(start + chunk, len(split))))
        images = images_of(rows, start)
        if augment:
            images = augmented_images(images, augment, seed=config["seed"] * 1_000_003 + start)
        num_views = len(images) // len(rows)
        clips, bags = [], []
        for i in range(0, len(images), config["batch_images"]):
            batch = images[i : i + config["batch_images"]]
            clips.append(clip.embed_images(batch).cpu())
            keys = extractor(batch)
            bags.append(codebook.bag(keys.keys, keys.grid).cpu())
        tensors = {"clip": torch.cat(clips).reshape(len(rows), num_views, -1).contiguous(),
                   "bag": torch.cat(bags).reshape(len(rows), num_views, -1).contiguous()}
        views = metadata_of(rows, num_views)
        meta = {"shape_ids": json.dumps([str(s) for s in rows["shape_id"]]), "augment": json.dumps(variant),
                **{key: json.dumps(value) for key, value in views.items()}}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
    clips, bags, ids, yaw, cameras = [], [], [], None, {}
    for start in starts:
        with safe_open(str(_chunk_path(partial, name, start)), framework="pt") as f:
            clips.append(f.get_tensor("clip"))
            bags.append(f.get_tensor("bag"))
            ids += json.loads(f.metadata()["shape_ids"])
            yaw = f.metadata()["view_yaw"]
            cameras.update(json.loads(f.metadata().get("cameras", "{}")))
    meta = {"shape_ids": json.dumps(ids), "view_yaw": yaw, "augment": json.dumps(variant)}
    if cameras:
        meta["cameras"] = json.dumps(cameras)
    with atomic_path(out) as tmp:
        save_file({"clip": torch.cat(clips), "bag": torch.cat(bags)}, str(tmp), metadata=meta)


__all__ = ["COLUMNS", "NOVEL_VIEW_COLUMNS", "NOVEL_VIEW_SPLITS", "SPLITS", "base_settings", "featurize_split",
           "fit_key_codebook", "novel_view_images", "novel_view_metadata", "stored_augment"]
