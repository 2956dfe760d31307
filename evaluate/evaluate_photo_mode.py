"""Photo mode on photo-like test renders: Chamfer with photo mode on vs off vs the clean render.

    python evaluate/evaluate_photo_mode.py --pipeline checkpoints/latentmapper-car --output runs/photo_eval
        [--translator runs/cyclegan/translator] [--dataset data/car] [--split test] [--shapes 10] [--views 1 4 7]
        [--resolution 128] [--matting classical | MATTING_PATH]

For each test shape (the ``test`` split of ``--dataset``, or the procedural shapes that a
600-shape build assigns to test; ``--split validation`` for tuning) and each view, the render
is turned into a photo-like image (``latentmapper.photo.photo_like``, the same degradations the translator was trained
on, drawn with a seed per shape and view) and reconstructed five ways:

* ``clean``: the render itself (the reference);
* ``off``: the photo-like image as it is (photo mode off);
* ``on``: photo mode, ``pipe(photo, photo_mode=True)``: background removal by the pipeline's
  ``matting`` (``--matting``; default the pipeline's own, else the checkout's
  ``checkpoints/photo-matting``, else the classical matting), grey level and framing looked up
  among the renders (the pipeline's ``framing``), then its ``translator`` (``--translator``);
* ``matted``: the same without translation (what the translator adds);
* ``true_matte``: ``prepare_photo`` with the true silhouette as the matte, no translation
  (what the background removal's errors cost);
* ``clean_reframed``: the render through ``prepare_photo`` with its own silhouette as the matte (what
  colour matching and framing cost; before, the classical matting's errors were counted here too).

Chamfer (x10^3) against the shape's surface samples; a reconstruction without a surface
is a failure, left out of the means and counted. Also reported: the matte's IoU with the
true silhouette. Targets (issue 8): ``on`` at most 1.3x ``clean`` and below ``off``.
Per-shape results are cached in ``OUTPUT/per_shape/`` (resumable; ``OUTPUT/settings.json``
refuses a resume with other settings); ``OUTPUT/summary.json``,
``OUTPUT/summary.md`` and ``OUTPUT/examples.png`` (render | photo | prepared | translated).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from latentmapper.atomic import atomic_path  # noqa: E402
from latentmapper.evaluation.loop import SettingsMismatch, check_settings  # noqa: E402
from latentmapper.evaluation.image_robustness import own_silhouette, reconstruction_chamfer, split_renders  # noqa: E402
from latentmapper.evaluation.scores import mean_or_none  # noqa: E402
from latentmapper.models.cyclegan import ResnetGenerator  # noqa: E402
from latentmapper.photo import LearnedMatting, matting_remover, prepare_photo, translate_to_renders  # noqa: E402
from latentmapper.photo.photo_like import PhotoLikeConfig, synthesize_photo_like  # noqa: E402
from latentmapper.pipelines import LatentMapperPipeline  # noqa: E402
from latentmapper.atomic import write_json

CONDITIONS = ("clean", "off", "on", "matted", "true_matte", "clean_reframed")
SHIPPED_MATTING = Path(__file__).resolve().parents[1] / "checkpoints" / "photo-matting"  # the checkout's matting U-Net
TARGET_RATIO = 1.3


def summarize(per_shape: list[dict]) -> dict:
    rows = [view for record in per_shape for view in record["views"]]
    chamfer = {c: mean_or_none(r[c] for r in rows) for c in CONDITIONS}
    out = {"shapes": len(per_shape), "images": len(rows), "chamfer_x1e3": chamfer,
           "failures": {c: sum(r[c] is None for r in rows) for c in CONDITIONS},
           "matte_iou": mean_or_none(r["matte_iou"] for r in rows)}
    if chamfer["clean"] and chamfer["on"] and chamfer["off"]:
        out["on_over_clean"] = chamfer["on"] / chamfer["clean"]
        out["off_over_clean"] = chamfer["off"] / chamfer["clean"]
        out["targets"] = {f"on_within_{TARGET_RATIO}x_clean": out["on_over_clean"] <= TARGET_RATIO,
                          "on_below_off": chamfer["on"] < chamfer["off"]}
    return out


def markdown_table(summary: dict) -> str:
    c, f = summary["chamfer_x1e3"], summary["failures"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    names = {"clean": "clean render (reference)", "off": "photo-like, photo mode off",
             "on": "photo-like, photo mode on (matting, grey level, framing, translator)",
             "matted": "photo-like, photo mode without translator",
             "true_matte": "photo-like, photo mode with the true matte, without translator",
             "clean_reframed": "clean render through prepare_photo, its own silhouette as matte (colours + framing)"}
    lines = ["| input | Chamfer x10^3 | x clean | empty meshes |", "| --- | --- | --- | --- |"]
    for key in CONDITIONS:
        ratio = "n/a" if not (c[key] and c["clean"]) else f"{c[key] / c['clean']:.2f}"
        lines.append(f"| {names[key]} | {fmt(c[key])} | {ratio} | {f[key]} |")
    lines.append(f"\n{summary['shapes']} {summary.get('split', 'test')} shapes, {summary['images']} images; "
                 f"mean matte IoU {fmt(summary['matte_iou'])}.")
    return "\n".join(lines) + "\n"


def example_sheet(rows: list[list[Image.Image]], path: Path, size: int = 128) -> None:
    sheet = np.concatenate([np.concatenate([np.asarray(im.convert("RGB").resize((size, size))) for im in row], 1)
                            for row in rows], 0)
    with atomic_path(path) as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", required=True, help="pipeline folder or hub id")
    parser.add_argument("--translator", type=Path, default=None,
                        help="ResnetGenerator folder (default: the pipeline's; without one, photo mode does not translate)")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--dataset", type=Path, default=None,
                        help="a built DatasetDict (its --split); default procedural shapes")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"),
                        help="which split's shapes (tune on validation, report test once)")
    parser.add_argument("--shapes", type=int, default=10)
    parser.add_argument("--views", type=int, nargs="+", default=[1, 4, 7], help="view indices (yaw 30 x index)")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="seed of the photo-like degradations")
    parser.add_argument("--matting", "--remover", dest="matting", default=None,
                        help="photo mode's background removal: a matting U-Net by path or hub id, or 'classical' "
                             "(default: the pipeline's matting, else checkpoints/photo-matting, else classical)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()

    pipe = LatentMapperPipeline.from_pretrained(args.pipeline)
    pipe.set_progress_bar_config(disable=True)
    if args.translator is not None:
        pipe.translator = ResnetGenerator.from_pretrained(args.translator)
    if pipe.translator is None:
        print("note: the pipeline has no translator, so photo mode 'on' is 'matted'")
    remover_name = args.matting or ("pipeline" if pipe.matting is not None else
                                    "checkpoints/photo-matting" if SHIPPED_MATTING.is_dir() else "classical")
    if remover_name == "classical":
        pipe.matting = None
    elif remover_name != "pipeline":
        pipe.matting = LearnedMatting.from_pretrained(args.matting or SHIPPED_MATTING).unet
    remover = matting_remover(pipe.matting)
    config = PhotoLikeConfig()
    cache = args.output / "per_shape"
    cache.mkdir(parents=True, exist_ok=True)
    try:  # cached per-shape scores are only reused when made the same way
        check_settings(args.output, {"pipeline": str(args.pipeline), "translator": str(args.translator),
                                     "remover": remover_name, "views": args.views, "seed": args.seed,
                                     "resolution": args.resolution, "split": args.split,
                                     "dataset": str(args.dataset), "clean_reframed_matte": "true silhouette"})
    except SettingsMismatch as err:
        raise SystemExit(str(err)) from None

    per_shape, examples = [], []
    shapes = split_renders(pipe.config.category, args.dataset, args.shapes, args.split)
    for s, (shape_id, renders, gt) in enumerate(tqdm(shapes, total=args.shapes, desc="photo mode", unit="shape")):
        path = cache / f"{shape_id}.json"
        if path.is_file():
            per_shape.append(json.loads(path.read_text()))
            continue
        views = []
        for view in args.views:
            render = renders[view]
            sample = synthesize_photo_like(render, np.random.default_rng([args.seed, s, view]), config)
            alpha = remover(sample.image)
            prepared = prepare_photo(sample.image, remover=lambda _: alpha, framing=pipe.framing)
            matte = np.asarray(alpha) > 0.5
            iou = float((matte & sample.mask).sum() / max(1, (matte | sample.mask).sum()))
            views.append({
                "view": view, "matte_iou": iou,
                "clean": reconstruction_chamfer(pipe, render, gt, args.resolution),
                "off": reconstruction_chamfer(pipe, sample.image, gt, args.resolution),
                "on": reconstruction_chamfer(pipe, sample.image, gt, args.resolution, photo_mode=True),
                "matted": reconstruction_chamfer(pipe, prepared, gt, args.resolution),
                "true_matte": reconstruction_chamfer(
                    pipe, prepare_photo(sample.image, remover=lambda _: sample.mask.astype(np.float32),
                                        framing=pipe.framing), gt, args.resolution),
                "clean_reframed": reconstruction_chamfer(
                    pipe, prepare_photo(render, remover=own_silhouette, framing=pipe.framing), gt, args.resolution),
            })
            if len(examples) < 6:
                translated = translate_to_renders(pipe.translator, [prepared])[0] if pipe.translator is not None else prepared
                examples.append([render, sample.image, prepared, translated])
        record = {"shape_id": shape_id, "views": views}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(record, indent=1))
        per_shape.append(record)

    summary = summarize(per_shape)
    summary.update(pipeline=str(args.pipeline), translator=str(args.translator), views=args.views,
                   resolution=args.resolution, seed=args.seed, split=args.split,
                   remover=remover_name,
                   seconds=round(time.perf_counter() - started, 1))
    write_json(args.output / "summary.json", summary)
    table = markdown_table(summary)
    with atomic_path(args.output / "summary.md") as tmp:
        tmp.write_text(table)
    if examples:
        example_sheet(examples, args.output / "examples.png")
    print(table)
    if "targets" in summary:
        print("targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in summary["targets"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
