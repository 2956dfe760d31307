"""``latentmapper reconstruct IMAGE [IMAGE ...] --model PATH_OR_ID --out DIR``: one mesh per image.

Images run one at a time under a progress bar; an image that cannot be read or that decodes
to no surface is reported and skipped, and the others still run. The exit status is 0 when
every image gave a mesh, 1 when any failed, 2 when the pipeline itself cannot be loaded.
Meshes are named after the images (``car.png`` -> ``car.glb``; repeated names get ``-1``, ``-2``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..mesh_io import MESH_FORMATS


def add_parser(sub) -> argparse.ArgumentParser:
    """``latentmapper reconstruct``, a sub-command of ``sub`` (the top-level parser's sub-parsers)."""
    parser = sub.add_parser("reconstruct", help="reconstruct a mesh from each image", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files to reconstruct")
    parser.add_argument("--model", required=True, help="pipeline folder or Hugging Face repo id")
    parser.add_argument("--out", required=True, type=Path, help="folder for the meshes (created if needed)")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes grid size (default 128)")
    parser.add_argument("--format", choices=MESH_FORMATS, default="glb", help="mesh file format (default glb)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when present, else cpu)")
    parser.add_argument("--real-to-synthetic", action="store_true", help="run the pipeline's photo translator first")
    parser.add_argument("--photo", action="store_true", help="photo mode: matte, frame and translate each photo like "
                        "the renders first (the pipeline's matting, framing and translator components)")
    parser.add_argument("--matting", default=None, help="with --photo: a matting U-Net by path or hub id (e.g. "
                        "checkpoints/photo-matting) instead of the pipeline's, else the classical matting")


def output_paths(images: list[Path], out: Path, file_type: str) -> list[Path]:
    """``out/<stem>.<format>`` per image, made unique when two images share a stem."""
    seen: dict[str, int] = {}
    paths = []
    for image in images:
        stem = image.stem or "mesh"
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        paths.append(out / f"{stem}{'' if count == 0 else f'-{count}'}.{file_type}")
    return paths


def check_device(name: str):
    """``torch.device`` for ``--device``, or a ValueError naming what is wrong (not a traceback)."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {name!r} is not a device PyTorch knows (cpu, cuda, cuda:1, mps, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name!r} asks for CUDA, but PyTorch sees no CUDA GPU on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name!r} asks for MPS, which this machine does not have")
    return device


def prepare_output_folder(out: Path) -> None:
    """Create ``--out`` (and its parents), or a ValueError saying why it cannot be a folder of meshes."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder; give a folder for the meshes")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot create the output folder {out}: {err.strerror or err}") from None


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    import torch
    from tqdm.auto import tqdm

    from ..geometry import EmptySurfaceError
    from ..image_io import InvalidImageError
    from ..mesh_io import save_mesh
    from ..pipelines import LatentMapperPipeline, PipelineLoadError, check_resolution

    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()  # the command shows its own bar; no per-component ones
    transformers.utils.logging.disable_progress_bar()
    try:
        device = check_device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        check_resolution(args.resolution)  # once, not once per image
        prepare_output_folder(args.out)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        pipe = LatentMapperPipeline.from_pretrained(args.model).to(device)
    except (PipelineLoadError, OSError, ValueError) as err:
        print(f"error: cannot load the pipeline {args.model!r}: {err}", file=sys.stderr)
        return 2
    if args.matting:  # photo mode's matting U-Net, by path or hub id
        from ..photo import LearnedMatting

        try:
            pipe.matting = LearnedMatting.from_pretrained(args.matting).unet.to(device)
        except (OSError, ValueError) as err:
            print(f"error: cannot load the matting U-Net {args.matting!r}: {err}", file=sys.stderr)
            return 2
    pipe.set_progress_bar_config(disable=True)
    failures = []
    targets = output_paths(args.images, args.out, args.format)
    bar = tqdm(list(zip(args.images, targets)), desc="reconstruct", unit="image")
    for image, target in bar:
        bar.set_postfix_str(image.name)
        try:
            out = pipe(str(image), resolution=args.resolution, output_type="trimesh",
                       real_to_synthetic=args.real_to_synthetic, photo_mode=args.photo)
            save_mesh(out.meshes[0], target, args.format)
        except (InvalidImageError, EmptySurfaceError, OSError, ValueError) as err:
            failures.append(image)
            bar.write(f"failed: {image}: {err}", file=sys.stderr)
    bar.close()
    done = len(args.images) - len(failures)
    print(f"wrote {done} mesh{'es' if done != 1 else ''} to {args.out} in {time.perf_counter() - started:.1f} s"
          + (f"; {len(failures)} image(s) failed: {', '.join(str(f) for f in failures)}" if failures else ""))
    return 1 if failures else 0


__all__ = ["add_arguments", "add_parser", "check_device", "output_paths", "prepare_output_folder", "run"]
