"""``latentmapper photo``: build the stand-in photo domain, or prepare photos for reconstruction.

    latentmapper photo stand-in --out runs/cyclegan/data --dataset data/car data/airplane
    latentmapper photo stand-in --out runs/cyclegan/data --category car --num-shapes 200
    latentmapper photo prepare photo.jpg -o prepared.png --category car [--remover checkpoints/photo-matting]
    latentmapper photo fit-framing --dataset data/car data/airplane

``python -m latentmapper.photo ...`` is the same command.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

REMOVER_HELP = ("background removal: a matting U-Net or a DETR panoptic model by path or hub id, or 'classical' "
                "(default: the shipped matting U-Net, checkpoints/photo-matting, where the checkout has it)")


def add_parser(sub) -> argparse.ArgumentParser:
    """``latentmapper photo``, a sub-command of ``sub`` (the top-level parser's sub-parsers)."""
    parser = sub.add_parser("photo", help="prepare photos; build the stand-in photo domain; fit the framing",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_commands(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The same commands as ``python -m latentmapper.photo``."""
    parser = argparse.ArgumentParser(prog="python -m latentmapper.photo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_commands(parser)
    return parser


def add_commands(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(run=run)
    sub = parser.add_subparsers(dest="command", required=True)
    stand_in = sub.add_parser("stand-in", help="photo-like and render folders for CycleGAN training")
    stand_in.add_argument("--out", required=True, type=Path)
    stand_in.add_argument("--dataset", type=Path, nargs="*", default=[], help="saved DatasetDicts (train split used)")
    stand_in.add_argument("--category", nargs="*", default=[], help="procedural categories (without --dataset)")
    stand_in.add_argument("--num-shapes", type=int, default=None, help="shapes per source (default: all / 200)")
    stand_in.add_argument("--build-size", type=int, default=600, help="procedural: the build whose train split is used")
    stand_in.add_argument("--views-per-shape", type=int, default=2)
    stand_in.add_argument("--seed", type=int, default=0)
    stand_in.add_argument("--remover", "--detr", dest="remover", default=None, help=REMOVER_HELP)

    fit = sub.add_parser("fit-framing", help="measure the renders' framing and write framing_tables.py")
    fit.add_argument("--dataset", type=Path, nargs="+", required=True, help="saved DatasetDicts, one per category")

    prepare = sub.add_parser("prepare", help="background removal and render-like framing of one photo")
    prepare.add_argument("image", type=Path)
    prepare.add_argument("-o", "--output", required=True, type=Path)
    prepare.add_argument("--category", default=None, help="frame by silhouette area as this category's renders")
    prepare.add_argument("--foreground-ratio", type=float, default=None)
    prepare.add_argument("--size", type=int, default=128)
    prepare.add_argument("--remover", "--detr", dest="remover", default=None, help=REMOVER_HELP)


def main(argv: list[str] | None = None) -> int:
    """``python -m latentmapper.photo ARGS``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return run(build_parser().parse_args(argv), argv)


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Run a parsed ``photo`` command."""
    from ..photo import RENDER_FOREGROUND_RATIO, default_background_remover, load_background_remover, prepare_photo
    from ..photo.stand_in import build_stand_in, dataset_renders, procedural_renders

    try:
        if args.command == "stand-in":
            if not args.dataset and not args.category:
                raise ValueError("give --dataset folders or procedural --category names")
            sources, total = [], 0
            for path in args.dataset:
                if not (path / "dataset_dict.json").is_file():
                    raise ValueError(f"{path} is not a saved DatasetDict (no dataset_dict.json)")
                sources.append(itertools.islice(dataset_renders(path), args.num_shapes))
                total += args.num_shapes or 0
            for category in args.category:
                count = args.num_shapes or 200
                sources.append(procedural_renders(category, count, build_size=args.build_size))
                total += count
            remover = load_background_remover(args.remover) if args.remover else default_background_remover()
            counts = build_stand_in(args.out, itertools.chain(*sources), views_per_shape=args.views_per_shape,
                                    seed=args.seed, remover=remover, total=total or None)
            print(f"stand-in photo domain in {args.out}: {counts['photos']} photos, {counts['renders']} renders")
        elif args.command == "fit-framing":
            from ..photo.measure import TABLES_FILE, fit_framing

            command = "python -m latentmapper.photo fit-framing --dataset " + " ".join(str(d) for d in args.dataset)
            for category, numbers in fit_framing(args.dataset, command).items():
                print(f"{category}: {numbers['train_renders']} training renders; on {numbers['test_renders']} test "
                      f"renders, median |log scale error| lookup {numbers['scale_lookup']:.3f} vs one ratio "
                      f"({numbers['one_ratio_value']:.3f}) {numbers['scale_one_ratio']:.3f}; median centre error "
                      f"lookup {numbers['centre_lookup']:.4f} vs fixed {numbers['centre_fixed']:.4f} (of the side); "
                      f"object colour mean/std {numbers['colour']}")
            print(f"wrote {TABLES_FILE}")
        else:
            remover = (load_background_remover(args.remover, category=args.category) if args.remover
                       else default_background_remover())
            ratio = args.foreground_ratio or RENDER_FOREGROUND_RATIO
            category = None if args.foreground_ratio else args.category
            prepare_photo(args.image, ratio, remover, category=category, size=args.size).save(args.output)
            print(f"wrote {args.output}")
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
