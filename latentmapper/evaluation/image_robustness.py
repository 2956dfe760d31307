"""Reconstructions of images that are not the renders themselves: photo-like copies, moved or rescaled ones.

The 9-view tables feed each pipeline the exact renders it was trained on. A user's image is
never framed exactly like them (photo mode estimates the framing; an image from elsewhere has
its own), so ``evaluate/evaluate_photo_mode.py`` and ``evaluate/evaluate_framing.py`` score the
same shapes from altered inputs, with the helpers here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ..geometry import EmptySurfaceError, chamfer_x1e3
from ..photo import prepare_photo
from ..photo.framing import render_mask
from .scores import mean_or_none


def split_renders(category: str, dataset: Path | None, count: int,
                  split: str = "test") -> Iterator[tuple[str, list[Image.Image], np.ndarray]]:
    """(shape_id, renders, surface points) of the first ``count`` shapes of ``split`` of ``dataset``, or,
    without one, of the procedural shapes that a 600-shape build assigns to ``split``."""
    if dataset is not None:
        from datasets import load_from_disk

        rows = load_from_disk(str(dataset))[split].select_columns(["shape_id", "images", "surface_points"])
        for row in rows.select(range(min(count, len(rows)))):
            yield row["shape_id"], [im.convert("RGB") for im in row["images"]], np.asarray(row["surface_points"])
        return
    from ..data.build import shape_seeds, split_of
    from ..data.records import RecordConfig, procedural_record

    seeds = [s for s, split_name in zip(shape_seeds(600, 0), split_of(600, 0)) if split_name == split][:count]
    for seed in seeds:
        record = procedural_record(category, seed, RecordConfig(sdf_samples=1000))
        yield record.shape_id, record.images, record.surface_points


def reconstruction_chamfer(pipe, image: Image.Image, gt: np.ndarray, resolution: int,
                           photo_mode: bool = False) -> float | None:
    """Chamfer x10^3 of the pipeline's mesh of ``image`` to ``gt``; None when it has no surface."""
    try:
        mesh = pipe(image, resolution=resolution, photo_mode=photo_mode).meshes[0]
    except EmptySurfaceError:
        return None
    return chamfer_x1e3(mesh, gt) if len(mesh.faces) else None


def own_silhouette(render: Image.Image) -> np.ndarray:
    """A render's exact matte (its non-white pixels), for photo mode without matting errors."""
    return render_mask(render).astype(np.float32)


def shifted(image: Image.Image, dx: int, dy: int) -> Image.Image:
    """``image`` moved by (dx, dy) pixels, the uncovered border white."""
    canvas = Image.new("RGB", image.size, (255, 255, 255))
    canvas.paste(image.convert("RGB"), (dx, dy))
    return canvas


def scaled(image: Image.Image, factor: float) -> Image.Image:
    """``image`` scaled by ``factor`` about its centre, on white, at the same size."""
    width, height = image.size
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    canvas = Image.new("RGB", image.size, (255, 255, 255))
    canvas.paste(image.convert("RGB").resize(size, Image.BICUBIC), ((width - size[0]) // 2, (height - size[1]) // 2))
    return canvas


def framing_variants(render: Image.Image, shifts: list[int], scales: list[float], framing=None) -> dict[str, Image.Image]:
    """The render as it is (``render``), moved by each of ``shifts`` pixels left / right / up / down, scaled by
    each of ``scales``, and (with a ``framing`` reference) re-framed by photo mode from its own silhouette."""
    images = {"render": render}
    for px in shifts:
        for name, (dx, dy) in {"left": (-px, 0), "right": (px, 0), "up": (0, -px), "down": (0, px)}.items():
            images[f"shift_{px}px_{name}"] = shifted(render, dx, dy)
    for factor in scales:
        images[f"scale_{factor:g}"] = scaled(render, factor)
    if framing is not None:
        images["reframed"] = prepare_photo(render, remover=own_silhouette, framing=framing)
    return images


def summarize_framing(rows: list[dict]) -> dict:
    """Mean Chamfer per variant (and per shift size, over its four directions), and each over ``render``'s."""
    names = list(rows[0]["chamfer"]) if rows else []
    means = {name: mean_or_none(row["chamfer"][name] for row in rows) for name in names}
    for px in sorted({name.split("_")[1] for name in names if name.startswith("shift_")}, key=lambda p: int(p[:-2])):
        means[f"shift_{px}"] = mean_or_none(row["chamfer"][n] for row in rows for n in names
                                            if n.startswith(f"shift_{px}_"))
    base = means.get("render")
    return {"images": len(rows), "chamfer_x1e3": means,
            "x_render": {name: value / base for name, value in means.items() if value is not None and base}}


__all__ = ["framing_variants", "own_silhouette", "reconstruction_chamfer", "scaled", "shifted", "split_renders",
           "summarize_framing"]
