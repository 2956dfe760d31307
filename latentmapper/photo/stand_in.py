"""Build the two unaligned image folders a CycleGAN trains on, from renders alone.

    python -m latentmapper.photo stand-in --out runs/cyclegan/data --dataset data/car
        --framing checkpoints/latentmapper-car/framing --remover checkpoints/photo-matting
    python -m latentmapper.photo stand-in --out runs/cyclegan/data --category car --num-shapes 200

No real photos can be downloaded here, so the "photo" side is made of photo-like versions of
renders (``photo_like``). Training shapes only (a dataset's train split, or the procedural
seeds that a build of ``--build-size`` shapes assigns to train), split in two halves so the
domains are unaligned: even shapes give photos, odd shapes give renders; each gives
``views_per_shape`` random views. Written:

* ``photos/``: the photo-like images, as a photo collection would be;
* ``photos_prepared/``: the same through :func:`prepare_photo` (background removal, framing by the
  category's ``FramingReference`` where one is given), which is what the translator sees in the
  pipeline's photo mode, so what it is trained on;
* ``renders/``: the renders framed by the same function (their matte is exact).

Every file is written atomically and existing ones are kept, so an interrupted build resumes.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..atomic import atomic_path
from .framing_reference import FramingReference
from .photo_like import PhotoLikeConfig, synthesize_photo_like

FOLDERS = ("photos", "photos_prepared", "renders")


def dataset_renders(path: str | Path, split: str = "train") -> Iterator[tuple[str, str, list[Image.Image]]]:
    """(shape_id, category, renders) of every shape in a saved DatasetDict's ``split``."""
    from datasets import load_from_disk

    rows = load_from_disk(str(path))[split].select_columns(["shape_id", "category", "images"])
    for row in rows:
        yield row["shape_id"], row["category"], [image.convert("RGB") for image in row["images"]]


def procedural_renders(category: str, num_shapes: int, build_size: int = 600, build_seed: int = 0,
                       ) -> Iterator[tuple[str, str, list[Image.Image]]]:
    """Renders of the first ``num_shapes`` training-split procedural shapes of a ``build_size`` build."""
    from ..data.build import shape_seeds, split_of
    from ..data.records import RecordConfig, procedural_record

    config = RecordConfig(sdf_samples=1000, surface_samples=100)
    seeds = [s for s, split in zip(shape_seeds(build_size, build_seed), split_of(build_size, build_seed))
             if split == "train"][:num_shapes]
    for seed in seeds:
        record = procedural_record(category, seed, config)
        yield record.shape_id, category, record.images


def _save(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def build_stand_in(
    out: str | Path,
    shapes: Iterable[tuple[str, str, list[Image.Image]]],
    *,
    views_per_shape: int = 2,
    seed: int = 0,
    config: PhotoLikeConfig = PhotoLikeConfig(),
    remover=None,
    total: int | None = None,
    framing: Mapping[str, FramingReference] | None = None,
) -> dict:
    """Write ``photos/``, ``photos_prepared/`` and ``renders/`` under ``out``; returns the counts.

    ``framing``: ``{category: FramingReference}``; a shape of another category is framed with the
    fixed ratio and centre."""
    from .prepare import prepare_photo

    framing = dict(framing or {})

    out = Path(out)
    for name in FOLDERS:
        (out / name).mkdir(parents=True, exist_ok=True)
    counts = {"photos": 0, "renders": 0}
    for index, (shape_id, category, renders) in enumerate(tqdm(shapes, total=total, desc="stand-in", unit="shape")):
        views = np.random.default_rng([seed, index]).choice(len(renders), min(views_per_shape, len(renders)), replace=False)
        for view in sorted(int(v) for v in views):
            rng = np.random.default_rng([seed, index, view])  # per image, so a resumed build makes the same ones
            name = f"{shape_id}_v{view}.png"
            if index % 2 == 0:
                prepared = out / "photos_prepared" / name
                if not prepared.is_file():
                    photo = synthesize_photo_like(renders[view], rng, config).image
                    _save(photo, out / "photos" / name)
                    _save(prepare_photo(photo, remover=remover, framing=framing.get(category)), prepared)
                counts["photos"] += 1
            else:
                target = out / "renders" / name
                if not target.is_file():
                    _save(prepare_photo(renders[view], framing=framing.get(category)), target)
                counts["renders"] += 1
    with atomic_path(out / "stand_in.json") as tmp:
        totals = {name: sum(1 for _ in (out / name).glob("*.png")) for name in FOLDERS}
        info = {"counts": counts, "folder_totals": totals, "views_per_shape": views_per_shape, "seed": seed,
                "photo_like": asdict(config),
                "remover": type(remover).__name__ if remover is not None else "ClassicalMatting",
                "framing": sorted(framing),
                "note": "photo-like renders: a stand-in for real photos, not real photos"}
        tmp.write_text(json.dumps(info, indent=1))
    return counts


__all__ = ["FOLDERS", "build_stand_in", "dataset_renders", "procedural_renders"]
