"""``latentmapper data``: build, import, push and pull shape datasets, and filter photo collections.

    latentmapper data build --category car --num-shapes 600 --out data/car
    latentmapper data import-shapenet /path/to/ShapeNetCore.v2 --synset 02958343 --out data/shapenet-car
    latentmapper data push data/car USER/latentmapper-car
    latentmapper data pull USER/latentmapper-car data/car-copy
    latentmapper data filter-photos DIR --category car --out kept.tsv --clip PATH_OR_ID

``python -m latentmapper.data ...`` is the same command.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from .group import add_group, alias_parser, run_alias

ALIAS = "python -m latentmapper.data"


def _record_config(args: argparse.Namespace):
    from ..data.records import RecordConfig

    return RecordConfig(image_size=args.image_size, sdf_samples=args.sdf_samples,
                        mesh_resolution=args.mesh_resolution)


def _add_record_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder (a saved DatasetDict)")
    parser.add_argument("--seed", type=int, default=0, help="build seed (shape seeds and the split)")
    parser.add_argument("--image-size", type=int, default=128, help="render size in pixels (224 for the GPU preset)")
    parser.add_argument("--sdf-samples", type=int, default=50_000, help="SDF samples per shape")
    parser.add_argument("--mesh-resolution", type=int, default=128, help="marching-cubes grid for meshing")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")


def add_parser(sub) -> argparse.ArgumentParser:
    """``latentmapper data``, a sub-command of ``sub`` (the top-level parser's sub-parsers)."""
    return add_group(sub, "data", "build, import, push or pull shape datasets; filter photos", __doc__, add_commands)


def build_parser() -> argparse.ArgumentParser:
    """The same commands as ``python -m latentmapper.data``."""
    return alias_parser(ALIAS, __doc__, add_commands)


def add_commands(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(run=run)
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="generate procedural shapes into a DatasetDict")
    build.add_argument("--category", required=True, help="car or airplane")
    build.add_argument("--num-shapes", type=int, required=True)
    _add_record_options(build)

    shapenet = sub.add_parser("import-shapenet", help="read ShapeNetCore.v2 models into a DatasetDict")
    shapenet.add_argument("shapenet_dir", type=Path)
    shapenet.add_argument("--synset", required=True, help="e.g. 02958343 (car) or 02691156 (airplane)")
    shapenet.add_argument("--category", default=None, help="category name (default: from the synset)")
    shapenet.add_argument("--limit", type=int, default=None, help="import at most this many models")
    shapenet.add_argument("--no-repair", action="store_true", help="skip non-watertight meshes instead of rebuilding them")
    _add_record_options(shapenet)

    push = sub.add_parser("push", help="upload a built dataset to the Hugging Face Hub")
    push.add_argument("folder", type=Path)
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true")

    pull = sub.add_parser("pull", help="download a dataset (or take it from the local cache)")
    pull.add_argument("repo_id")
    pull.add_argument("folder", type=Path)
    pull.add_argument("--revision", default=None)
    pull.add_argument("--overwrite", action="store_true")

    photos = sub.add_parser("filter-photos", help="keep the photos of a category by CLIP template distance")
    photos.add_argument("folder", type=Path, help="folder of images")
    photos.add_argument("--category", required=True, help="the text put in the 74 prompt templates, e.g. car")
    photos.add_argument("--out", required=True, type=Path, help="kept list (the rejected list goes beside it)")
    photos.add_argument("--clip", required=True, help="CLIP with text tower: hub id or folder")
    photos.add_argument("--num-std", type=float, default=2.0, help="keep distances up to mean + this many std (paper: 2)")
    photos.add_argument("--recursive", action="store_true", help="also images in sub-folders")


def _summary(dataset) -> str:
    return ", ".join(f"{name}: {len(split)}" for name, split in dataset.items())


def _filter_photos(args: argparse.Namespace) -> str:
    from ..data.photo_filter import filter_photo_folder, rejected_path

    result = filter_photo_folder(args.folder, args.category, args.out, args.clip, num_std=args.num_std,
                                 recursive=args.recursive)
    return (f"kept {int(result.keep.sum())} of {len(result.keep)} images (mean distance {result.mean:.4f}, "
            f"std {result.std:.4f}, threshold {result.threshold:.4f}) -> {args.out}, {rejected_path(args.out)}")


def main(argv: list[str] | None = None) -> int:
    """``python -m latentmapper.data ARGS``."""
    return run_alias(build_parser(), argv)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run a parsed ``data`` command; ``argv`` (the group's arguments) is recorded with a build."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    from ..data.build import BuildError, build_dataset, import_shapenet
    from ..data.hub import pull_dataset, push_dataset
    from ..data.shapenet import ShapeNetError

    start = time.perf_counter()
    command = f"{ALIAS} " + " ".join(argv)
    try:
        if args.command == "build":
            dataset = build_dataset(args.category, args.num_shapes, args.out, seed=args.seed,
                                    config=_record_config(args), num_workers=args.workers, overwrite=args.overwrite, command=command)
            print(f"built {args.out} ({_summary(dataset)}) in {time.perf_counter() - start:.0f} s")
        elif args.command == "import-shapenet":
            dataset = import_shapenet(args.shapenet_dir, args.synset, args.out, category=args.category,
                                      limit=args.limit, repair=not args.no_repair, seed=args.seed,
                                      config=_record_config(args), num_workers=args.workers,
                                      overwrite=args.overwrite, command=command)
            print(f"imported into {args.out} ({_summary(dataset)}) in {time.perf_counter() - start:.0f} s")
        elif args.command == "push":
            print(f"pushed to {push_dataset(args.folder, args.repo_id, private=args.private)}")
        elif args.command == "pull":
            dataset = pull_dataset(args.repo_id, args.folder, revision=args.revision, overwrite=args.overwrite)
            print(f"pulled {args.repo_id} into {args.folder} ({_summary(dataset)})")
        elif args.command == "filter-photos":
            print(_filter_photos(args))
    except (BuildError, ShapeNetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
