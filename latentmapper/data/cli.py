"""Command line for the dataset: ``build``, ``push``, ``pull``, ``import-shapenet``, ``filter-photos``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from .photo_filter import add_filter_photos_parser, run_filter_photos
from .records import RecordConfig


def _record_config(args: argparse.Namespace) -> RecordConfig:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m latentmapper.data", description=__doc__)
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

    add_filter_photos_parser(sub)
    return parser


def _summary(dataset) -> str:
    return ", ".join(f"{name}: {len(split)}" for name, split in dataset.items())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    from .build import BuildError, build_dataset, import_shapenet
    from .hub import pull_dataset, push_dataset
    from .shapenet import ShapeNetError

    start = time.perf_counter()
    command = "python -m latentmapper.data " + " ".join(argv if argv is not None else sys.argv[1:])
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
            print(run_filter_photos(args))
    except (BuildError, ShapeNetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
