"""The ceiling of any image -> code mapper: codes predicted from each shape's own generator parameters, decoded.

    python evaluate/evaluate_params_ceiling.py --dataset data/car --dit checkpoints/latentmapper-car/dit \\
        --latents checkpoints/dit-car/latents.safetensors [--split validation] [--limit 60] [--pixel-views 0,4,8]
        [--output ceiling.json]

A ridge regression from the training shapes' parameters (family one-hot, numeric parameters,
flags) to their DIT codes is applied to the ``--split`` shapes; each predicted code is meshed at
``--resolution`` and scored against the shape's surface points (Chamfer x10^3 on 5000 points,
identification top-1 among the evaluated shapes, as ``evaluate.py`` does). Beside it, the family's
mean training code: knowing the family and nothing else. And, for ``--pixel-views``, one view-agnostic
ridge from the training renders' 32x32 grey pixels to their codes, applied to those views of each
shape (fixed cameras only: what alignment with them buys). See ``latentmapper.evaluation.params_ceiling``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...atomic import write_json
from ...geometry import EmptySurfaceError, chamfer_x1e3, latent_to_mesh, sample_surface_points
from ..cross import Gallery, identification_top1
from ..params_ceiling import ParamsToCodes, PixelsToCodes, grey_pixels
from ..results import round_score
from ..scores import mean_or_none, median_or_none
from ..shapes import SplitShapes


def _training_codes(dataset: Path, latents: Path, columns: list[str]) -> tuple[list[dict], np.ndarray]:
    """The training rows (shape_id and ``columns``) that have a code, and their codes."""
    from datasets import load_from_disk
    from safetensors.torch import load_file

    if not latents.is_file():
        raise SystemExit(f"--latents {latents}: no such file (a DIT run's latents.safetensors)")
    codes = load_file(str(latents))
    rows = load_from_disk(str(dataset))["train"].select_columns(["shape_id", *columns])
    kept = [r for r in rows if r["shape_id"] in codes]
    if len(kept) < 2:
        raise SystemExit(f"{latents} has codes for {len(kept)} of the {len(rows)} training shapes of {dataset}; need 2 or more")
    return kept, np.stack([codes[r["shape_id"]].float().numpy() for r in kept])


def _views(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"--pixel-views {text!r}: give view indices separated by commas, e.g. 0,4,8") from None


def _score(name: str, predicted: list[tuple[str, np.ndarray]], decoder, truth: dict, gallery: Gallery,
           args: argparse.Namespace) -> dict:
    """Each (shape id, code) meshed and scored: mean / median Chamfer x10^3 and identification top-1."""
    chamfers, entries = [], []
    for shape_id, code in tqdm(predicted, desc=name, disable=args.no_progress):
        try:
            with torch.no_grad():
                mesh = latent_to_mesh(decoder, torch.as_tensor(code, dtype=torch.float32), args.resolution)
        except EmptySurfaceError:  # no surface: no Chamfer, and not identified
            chamfers.append(None)
            entries.append((shape_id, None))
            continue
        points = sample_surface_points(mesh)
        chamfers.append(chamfer_x1e3(points, truth[shape_id]))
        entries.append((shape_id, gallery.chamfer_x1e3(points)))
    return {"inputs": len(chamfers), "shapes": len(set(shape_id for shape_id, _ in predicted)),
            "empty": chamfers.count(None), "chamfer_x1e3": round_score(mean_or_none(chamfers)),
            "median_chamfer_x1e3": round_score(median_or_none(chamfers)),
            "identification_top1": identification_top1(entries, gallery.ids)}


def evaluate(args: argparse.Namespace) -> dict:
    """Every system's scores on the evaluated split: {system: {chamfer_x1e3, median, identification_top1, ...}}."""
    from datasets import load_from_disk

    from ...models import DITDecoder

    views = _views(args.pixel_views)
    columns = ["params", "subtype", "images"] if views else ["params", "subtype"]  # renders decoded only when read
    training, codes = _training_codes(args.dataset, args.latents, columns)
    ceiling = ParamsToCodes([r["params"] for r in training], [r["subtype"] for r in training], codes)
    split = SplitShapes(args.dataset, args.split, args.limit)
    labels = load_from_disk(str(args.dataset))[args.split].select_columns(columns).select(range(len(split)))
    ids = split.shape_ids
    systems = {"params_ridge": list(zip(ids, ceiling.predict(labels["params"], labels["subtype"]))),
               "family_mean": list(zip(ids, ceiling.family_means(labels["subtype"])))}
    if views:
        renders = list(labels["images"])
        count = min(len(images) for images in [*(r["images"] for r in training), *renders])
        bad = [v for v in views if not 0 <= v < count]
        if bad:
            raise SystemExit(f"--pixel-views {bad}: the shapes have {count} renders each")
        reader = PixelsToCodes(np.stack([grey_pixels(r["images"][:count]) for r in training]), codes)
        pixels = [grey_pixels([images[v] for v in views]) for images in renders]
        systems["pixels_ridge"] = [(shape_id, code) for shape_id, rows in zip(ids, pixels)
                                   for code in reader.predict(rows)]
    decoder = DITDecoder.from_pretrained(args.dit).eval()
    truth = split.surface_points()
    gallery = Gallery(truth)
    return {name: _score(name, predicted, decoder, truth, gallery, args) for name, predicted in systems.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path, help="a built DatasetDict with shape parameters")
    parser.add_argument("--dit", required=True, help="the DIT decoder (a pipeline's dit/ folder)")
    parser.add_argument("--latents", required=True, type=Path, help="the DIT's training codes (latents.safetensors)")
    parser.add_argument("--split", default="validation", choices=("validation", "test"))
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--pixel-views", default="0,4,8",
                        help="renders scored by the grey-pixel ridge (indices, comma-separated; empty: skip it)")
    parser.add_argument("--output", type=Path, default=None, help="write the scores here (JSON)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.limit < 1:
        raise SystemExit("--limit must be at least 1")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results = evaluate(args)
    for name, row in results.items():
        print(f"{name:14s} Chamfer x1e3 {row['chamfer_x1e3']} (median {row['median_chamfer_x1e3']}), "
              f"identification top-1 {row['identification_top1']} over {row['inputs']} inputs of {row['shapes']} "
              f"{args.split} shapes")
    if args.output is not None:
        write_json(args.output, {"dataset": str(args.dataset), "split": args.split, "resolution": args.resolution,
                                 "systems": results, "seconds": round(time.perf_counter() - started, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
