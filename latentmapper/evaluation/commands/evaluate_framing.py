"""How much a pipeline's shape depends on where the object sits in the image.

    python evaluate/evaluate_framing.py --pipeline checkpoints/latentmapper-airplane --output runs/framing_eval/airplane
        [--dataset data/airplane] [--split validation] [--shapes 20] [--views 1 4 7] [--shifts 2 4] [--scales 0.97 1.03]

No user's image is framed exactly as the renders are: a photo's framing is estimated (photo
mode's ``framing`` lookup is off by about 1% in scale and 1-3 pixels in place), and an image
from elsewhere has its own. For each shape and view, the render is reconstructed as it is, moved
by each of ``--shifts`` pixels left, right, up and down (white fill), scaled by each of
``--scales`` about the image centre, and put through photo mode's framing and grey level with its
own silhouette as the matte (``reframed``). Chamfer x10^3 against the shape's surface samples, the
mean of each condition and its ratio to the unmoved render's. Per-shape results are cached in
``OUTPUT/per_shape/`` (resumable); ``OUTPUT/summary.json`` holds the means.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ...atomic import write_json
from ..image_robustness import framing_variants, reconstruction_chamfer, split_renders, summarize_framing
from ..loop import SettingsMismatch, check_settings
from ...pipelines import LatentMapperPipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", required=True, help="pipeline folder or hub id")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--dataset", type=Path, default=None, help="a built DatasetDict; default procedural shapes")
    parser.add_argument("--split", default="validation", choices=("train", "validation", "test"))
    parser.add_argument("--shapes", type=int, default=20)
    parser.add_argument("--views", type=int, nargs="+", default=[1, 4, 7], help="view indices (yaw 30 x index)")
    parser.add_argument("--shifts", type=int, nargs="*", default=[2, 4], help="pixels (of the 128 px renders)")
    parser.add_argument("--scales", type=float, nargs="*", default=[0.97, 1.03])
    parser.add_argument("--resolution", type=int, default=128)
    args = parser.parse_args(argv)
    if any(px <= 0 for px in args.shifts) or any(not 0.5 <= f <= 1.5 for f in args.scales):
        raise SystemExit("--shifts must be positive pixels and --scales within [0.5, 1.5]")
    torch.set_num_threads(1)
    started = time.perf_counter()
    pipe = LatentMapperPipeline.from_pretrained(args.pipeline)
    pipe.set_progress_bar_config(disable=True)
    cache = args.output / "per_shape"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        check_settings(args.output, {"pipeline": str(args.pipeline), "dataset": str(args.dataset), "split": args.split,
                                     "views": args.views, "shifts": args.shifts, "scales": args.scales,
                                     "resolution": args.resolution})
    except SettingsMismatch as err:
        raise SystemExit(str(err)) from None

    rows = []
    shapes = split_renders(pipe.config.category, args.dataset, args.shapes, args.split)
    for shape_id, renders, gt in tqdm(shapes, total=args.shapes, desc="framing", unit="shape"):
        path = cache / f"{shape_id}.json"
        if not path.is_file():
            views = [{"shape_id": shape_id, "view": view,
                      "chamfer": {name: reconstruction_chamfer(pipe, image, gt, args.resolution) for name, image in
                                  framing_variants(renders[view], args.shifts, args.scales, pipe.framing).items()}}
                     for view in args.views]
            write_json(path, views)
        rows += json.loads(path.read_text())
    summary = {**summarize_framing(rows), "pipeline": str(args.pipeline), "split": args.split,
               "seconds": round(time.perf_counter() - started, 1)}
    write_json(args.output / "summary.json", summary)
    for name, value in summary["chamfer_x1e3"].items():
        ratio = summary["x_render"].get(name)
        print(f"{name:24s} {value:8.3f}  {ratio:5.2f}x" if value is not None else f"{name:24s}      n/a")
    return 0
