"""``latentmapper photo``: build the stand-in photo domain, prepare photos, measure the renders' framing.

    latentmapper photo stand-in --out runs/cyclegan/data --dataset data/car --framing checkpoints/latentmapper-car/framing
    latentmapper photo stand-in --out runs/cyclegan/data --category car --num-shapes 200
    latentmapper photo prepare photo.jpg -o prepared.png --framing checkpoints/latentmapper-car/framing [--remover checkpoints/photo-matting]
    latentmapper photo fit-framing --dataset data/car data/airplane --out runs/framing

``python -m latentmapper.photo ...`` is the same command. To reconstruct a photo, use
``latentmapper reconstruct --photo``: the pipeline runs photo mode with its own components.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .group import add_group, alias_parser, run_alias

if TYPE_CHECKING:
    from ..photo import FramingReference

ALIAS = "python -m latentmapper.photo"
REMOVER_HELP = ("background removal: a matting U-Net (e.g. checkpoints/photo-matting) or a DETR panoptic model by "
                "path or hub id, or 'classical' (the default: no weights)")
FRAMING_HELP = ("framing statistics (a FramingReference folder, e.g. a pipeline's framing/): frame and shade as that "
                "category's renders")


def add_parser(sub) -> argparse.ArgumentParser:
    """``latentmapper photo``, a sub-command of ``sub`` (the top-level parser's sub-parsers)."""
    return add_group(sub, "photo", "prepare photos; build the stand-in photo domain; fit the framing", __doc__,
                     add_commands)


def build_parser() -> argparse.ArgumentParser:
    """The same commands as ``python -m latentmapper.photo``."""
    return alias_parser(ALIAS, __doc__, add_commands)


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
    stand_in.add_argument("--framing", type=Path, nargs="*", default=[], help=FRAMING_HELP + " (one per category)")

    fit = sub.add_parser("fit-framing", help="measure the renders' framing and save it as FramingReference folders")
    fit.add_argument("--dataset", type=Path, nargs="+", required=True, help="saved DatasetDicts, one per category")
    fit.add_argument("--out", type=Path, required=True, help="folder for one FramingReference per category (OUT/<category>)")

    prepare = sub.add_parser("prepare", help="background removal and render-like framing of one photo")
    prepare.add_argument("image", type=Path)
    prepare.add_argument("-o", "--output", required=True, type=Path)
    prepare.add_argument("--framing", type=Path, default=None, help=FRAMING_HELP)
    prepare.add_argument("--foreground-ratio", type=float, default=None)
    prepare.add_argument("--size", type=int, default=128)
    prepare.add_argument("--remover", "--detr", dest="remover", default=None, help=REMOVER_HELP)


def main(argv: list[str] | None = None) -> int:
    """``python -m latentmapper.photo ARGS``."""
    return run_alias(build_parser(), argv)


def load_framing(path: Path) -> "FramingReference":
    """A ``FramingReference`` folder, or a ValueError saying what the folder is not."""
    from ..photo import FramingReference

    if not (Path(path) / "config.json").is_file():
        raise ValueError(f"--framing {path} holds no config.json: give a FramingReference folder, e.g. a pipeline's framing/")
    return FramingReference.from_pretrained(str(path))


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Run a parsed ``photo`` command."""
    from ..photo import RENDER_FOREGROUND_RATIO, load_background_remover, prepare_photo
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
            references = [load_framing(path) for path in args.framing]
            counts = build_stand_in(args.out, itertools.chain(*sources), views_per_shape=args.views_per_shape,
                                    seed=args.seed, remover=load_background_remover(args.remover), total=total or None,
                                    framing={ref.config.category: ref for ref in references})
            print(f"stand-in photo domain in {args.out}: {counts['photos']} photos, {counts['renders']} renders")
        elif args.command == "fit-framing":
            from ..photo.measure import fit_framing

            for category, numbers in fit_framing(args.dataset, args.out).items():
                print(f"{category}: {numbers['train_renders']} training renders; on {numbers['test_renders']} test "
                      f"renders, median |log scale error| lookup {numbers['scale_lookup']:.3f} vs one ratio "
                      f"({numbers['one_ratio_value']:.3f}) {numbers['scale_one_ratio']:.3f}; median centre error "
                      f"lookup {numbers['centre_lookup']:.4f} vs fixed {numbers['centre_fixed']:.4f} (of the side); "
                      f"object colour mean/std {numbers['colour']}")
                print(f"  saved to {args.out / category}")
        else:
            framing = load_framing(args.framing) if args.framing and not args.foreground_ratio else None
            category = framing.config.category if framing is not None else None
            remover = load_background_remover(args.remover, category=category)
            ratio = args.foreground_ratio or RENDER_FOREGROUND_RATIO
            prepare_photo(args.image, ratio, remover, framing=framing, size=args.size).save(args.output)
            print(f"wrote {args.output}")
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
