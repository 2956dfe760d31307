"""Write the Space's example images: test-split renders of both categories from several yaws.

    python space/make_examples.py [--out space/examples] [--shapes-per-category 4]

Test-split shapes only, so a click on an example shows what the models do on shapes they
never trained on. Shapes are picked one per sub-type (the families cycle through them),
each seen from two of the 9 training yaws, spread so that the gallery covers the circle.
The images are the dataset's own renders (same camera, size and shading), written with a
``manifest.json`` that the Space reads for labels; deterministic, so rerunning it changes
nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from latentmapper.atomic import atomic_path
from latentmapper.data.build import shape_seeds, split_of
from latentmapper.data.records import RecordConfig, procedural_record

CATEGORIES = ("car", "airplane")
# Two yaws per shape; together they visit front, sides and back of the 0..240 training arc.
YAW_PAIRS = ((30.0, 150.0), (60.0, 210.0), (90.0, 240.0), (0.0, 120.0))
DATASET_SIZE, DATASET_SEED = 600, 0  # the shipped datasets' build (README: --num-shapes 600, seed 0)


def test_shapes(category: str, count: int) -> list[tuple[int, str]]:
    """The first ``count`` test-split seeds of ``category`` with distinct sub-types: (seed, subtype)."""
    from latentmapper.data.families import generate_shape

    picked: list[tuple[int, str]] = []
    seen: set[str] = set()
    for seed, split in zip(shape_seeds(DATASET_SIZE, DATASET_SEED), split_of(DATASET_SIZE, DATASET_SEED)):
        if split != "test":
            continue
        subtype = generate_shape(category, seed).subtype
        if subtype not in seen:
            seen.add(subtype)
            picked.append((seed, subtype))
        if len(picked) == count:
            break
    return picked


def make_examples(out: Path, shapes_per_category: int = 4) -> list[dict]:
    """Render the examples into ``out``; returns the manifest entries."""
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for category in CATEGORIES:
        for index, (seed, subtype) in enumerate(test_shapes(category, shapes_per_category)):
            yaws = YAW_PAIRS[index % len(YAW_PAIRS)]
            config = RecordConfig(image_size=128, sdf_samples=1, surface_samples=1, yaws=yaws)
            record = procedural_record(category, seed, config)
            for image, camera in zip(record.images, record.cameras):
                name = f"{category}-{seed}-yaw{int(camera.yaw):03d}.png"
                with atomic_path(out / name) as tmp:
                    image.save(tmp, format="PNG", optimize=True)
                entries.append({"file": name, "category": category, "seed": seed, "subtype": subtype,
                                "yaw": int(camera.yaw), "caption": record.caption})
                print(f"{name}: {record.caption}")
    with atomic_path(out / "manifest.json") as tmp:
        tmp.write_text(json.dumps(entries, indent=1) + "\n")
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "examples")
    parser.add_argument("--shapes-per-category", type=int, default=4)
    args = parser.parse_args(argv)
    entries = make_examples(args.out, args.shapes_per_category)
    print(f"{len(entries)} examples in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
