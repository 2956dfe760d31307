"""Evaluate GOEmbed on the test split from 1 view and from 3 views; write rows ``goembed`` and ``goembed_3views``.

    python evaluate/evaluate_goembed.py --category car --pipeline runs/goembed/car/pipeline
        [--dataset data/car] [--limit N] [--unseen-sets 2] [--resolution 128] [--seed 0]
        [--work runs/goembed/car/eval] [--results-dir hub_cards/results]

The view sets of Table 3 (``latentmapper.evaluation``), for a known-camera encoder:

* ``goembed`` (one view per input): fixed view = the yaw-0 render; nine views = each of the 9
  renders alone; unseen views = ``--unseen-sets`` cameras between the training yaws
  (elevation +-10 degrees), rendered from the shape's mesh exactly as the dataset renders.
* ``goembed_3views`` (three views per input): fixed view = yaws 0, 90, 180; nine views =
  the 9 renders split into three sets of three (0/90/180, 30/120/210, 60/150/240);
  unseen views = ``--unseen-sets`` sets of three unseen cameras.

Each prediction is meshed at ``--resolution`` (coarse-to-fine grid, marching cubes) and
scored with Chamfer x10^3 and EMD x10^2 against the stored surface samples; its seconds
(views -> mesh) give ``seconds_per_image``, the median over the test split. The two rows
are merged into ``hub_cards/results/<category>.json`` (every other row is kept) and
details (failures, the 3-view / 1-view Chamfer ratio against its 0.8 target) into
``<category>_details.json``. Each input set also gets ``identification_top1``, as in
``evaluate.py``: the fraction of inputs whose mesh is nearer (Chamfer) to its own shape than to
every other evaluated shape (``latentmapper.evaluation.cross``). Per-shape scores are cached in
``WORK/per_shape/``, so an interrupted evaluation resumes; they are refused if made with other
settings, and a cached shape without the distances to every evaluated shape is predicted again.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from tqdm.auto import tqdm

from latentmapper.evaluation.cross import Gallery, holds_cross, identification_top1, score_with_cross
from latentmapper.evaluation.loop import SettingsMismatch, check_settings
from latentmapper.evaluation.results import merge_systems, round_score
from latentmapper.evaluation.scores import mean_or_none, median_or_none
from latentmapper.evaluation.shapes import SplitShapes
from latentmapper.evaluation.views import render_view, unseen_cameras
from latentmapper.geometry import EmptySurfaceError
from latentmapper.pipelines import GOEmbedPipeline
from latentmapper.atomic import write_json

VIEW_SETS = ("fixed_view", "nine_views", "unseen_views")
SINGLE = {"fixed_view": [(0.0,)], "nine_views": [(float(y),) for y in range(0, 241, 30)]}
TRIPLES = {"fixed_view": [(0.0, 90.0, 180.0)],
           "nine_views": [(0.0, 90.0, 180.0), (30.0, 120.0, 210.0), (60.0, 150.0, 240.0)]}
TARGET_RATIO = 0.8


def predict(pipe: GOEmbedPipeline, images, cameras, resolution: int) -> tuple[object, float]:
    """(mesh or None, seconds from views to mesh, as the pipeline timed its stages)."""
    try:
        out = pipe(images, cameras, resolution=resolution)
        mesh, timings = out.meshes[0], out.timings
    except EmptySurfaceError as err:
        mesh, timings = None, err.timings
    return mesh, sum(timings.values())


def evaluate_shape(pipe, shape, settings, gallery: Gallery, *, unseen_sets: int, seed: int, resolution: int,
                   emd_points: int) -> dict:
    """Scores of every input set of one shape, for both rows, with each mesh's Chamfer to every ``gallery`` shape."""
    by_yaw = {round(float(c.yaw), 4): (c, im) for c, im in zip(shape.cameras, shape.images)}
    unseen = unseen_cameras(shape, 4 * unseen_sets, seed)  # singles first, then triples
    unseen_images = [render_view(shape, cam, settings) for cam in unseen]
    record = {"shape_id": shape.shape_id, "goembed": {}, "goembed_3views": {}}
    done: dict = {}
    for row, sets in (("goembed", SINGLE), ("goembed_3views", TRIPLES)):
        for view_set in VIEW_SETS:
            if view_set == "unseen_views":
                offset, size = (0, 1) if row == "goembed" else (unseen_sets, 3)
                groups = [[(unseen[offset + i * size + j], unseen_images[offset + i * size + j]) for j in range(size)]
                          for i in range(unseen_sets)]
            else:
                groups = [[by_yaw[y] for y in yaws] for yaws in sets[view_set]]
            entries = []
            for group in groups:
                cameras, images = [c for c, _ in group], [im for _, im in group]
                key = (view_set == "unseen_views", tuple((c.yaw, c.elevation) for c in cameras))
                if key not in done:  # the fixed input is also one of the nine-view inputs: scored once
                    mesh, seconds = predict(pipe, images, cameras, resolution)
                    scores, cross = score_with_cross(mesh, shape.surface_points, gallery, emd_points=emd_points,
                                                     seed=seed)
                    done[key] = {"yaws": [round(float(c.yaw), 3) for c in cameras],
                                 "elevations": [round(float(c.elevation), 3) for c in cameras],
                                 "seconds": seconds, **scores, "cross_chamfer_x1e3": cross}
                entries.append(done[key])
            record[row][view_set] = entries
    return record


def summarize(records: list[dict], row: str) -> tuple[dict, dict]:
    """The results entry (the evaluation issue's shape) and the details of one row."""
    result, details = {}, {"shapes": len(records), "inputs": {}, "empty_meshes": {}}
    gallery = [str(r["shape_id"]) for r in records]
    for view_set in VIEW_SETS:
        entries = [e for r in records for e in r[row][view_set]]
        result[view_set] = {metric: round_score(mean_or_none(e[metric] for e in entries))
                            for metric in ("chamfer_x1e3", "emd_x1e2")}
        owned = [(str(r["shape_id"]), e.get("cross_chamfer_x1e3")) for r in records for e in r[row][view_set]]
        result[view_set]["identification_top1"] = round_score(identification_top1(owned, gallery))
        details["inputs"][view_set] = len(entries)
        details["empty_meshes"][view_set] = sum(e["chamfer_x1e3"] is None for e in entries)
    seconds = (e["seconds"] for r in records for e in r[row]["fixed_view"])
    result["seconds_per_image"] = round_score(median_or_none(seconds))
    return result, details


def main(argv: list[str] | None = None, *, root: str | os.PathLike = ".") -> int:
    """Evaluate as the command line asks; default paths lie under ``root`` (the checkout)."""
    root = Path(root)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", required=True, help="names the default dataset and the results file")
    parser.add_argument("--pipeline", required=True, type=Path, help="a GOEmbedPipeline folder (train_goembed.py)")
    parser.add_argument("--dataset", type=Path, default=None, help="default data/<category>")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None, help="only the first N shapes of the split")
    parser.add_argument("--unseen-sets", type=int, default=2, help="unseen inputs per shape and row")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes grid")
    parser.add_argument("--emd-points", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0, help="unseen cameras and point sampling")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (the machine is shared)")
    parser.add_argument("--work", type=Path, default=None, help="per-shape cache; default runs/goembed/<category>/eval")
    parser.add_argument("--results-dir", type=Path, default=root / "hub_cards" / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dataset = args.dataset or root / "data" / args.category
    work = args.work or root / "runs" / "goembed" / args.category / "eval"
    cache = work / "per_shape"
    cache.mkdir(parents=True, exist_ok=True)
    settings = {"pipeline": str(args.pipeline), "split": args.split, "unseen_sets": args.unseen_sets,
                "resolution": args.resolution, "emd_points": args.emd_points, "seed": args.seed}
    try:
        check_settings(work, settings)
    except SettingsMismatch as err:
        raise SystemExit(str(err)) from None

    pipe = GOEmbedPipeline.from_pretrained(args.pipeline)
    shapes = SplitShapes(dataset, args.split, args.limit)
    render_settings = shapes.render_settings()
    gallery = Gallery(shapes.surface_points(), seed=args.seed)
    records = []
    for index in tqdm(range(len(shapes)), desc="goembed evaluation", unit="shape"):
        path = cache / f"{shapes.shape_ids[index]}.json"
        if path.is_file():
            record = json.loads(path.read_text())
            entries = [e for row in ("goembed", "goembed_3views") for group in record[row].values() for e in group]
            if holds_cross(entries, gallery.ids):
                records.append(record)
                continue
        record = evaluate_shape(pipe, shapes[index], render_settings, gallery, unseen_sets=args.unseen_sets,
                                seed=args.seed, resolution=args.resolution, emd_points=args.emd_points)
        write_json(path, record)
        records.append(record)

    rows, details = {}, {}
    for row in ("goembed", "goembed_3views"):
        rows[row], details[row] = summarize(records, row)
    one, three = (rows[r]["nine_views"]["chamfer_x1e3"] for r in ("goembed", "goembed_3views"))
    ratio = None if one in (None, 0) or three is None else three / one
    details["goembed_3views"]["chamfer_ratio_to_single_view"] = round_score(ratio)
    details["goembed_3views"]["target_ratio"] = TARGET_RATIO
    details["goembed_3views"]["meets_target"] = None if ratio is None else bool(ratio <= TARGET_RATIO)
    for row in rows:
        details[row]["run"] = {**settings, "dataset": str(dataset), "device": "cpu",
                               "encoder_parameters": sum(p.numel() for p in pipe.goembed.parameters())}
    results_path = args.results_dir / f"{args.category}.json"
    merged = merge_systems(results_path, rows)
    merge_systems(args.results_dir / f"{args.category}_details.json", details, "details")
    write_json(work / "evaluation.json", {"systems": rows, "details": details})

    print("| system | CD x10^3 fixed | CD x10^3 nine | CD x10^3 unseen | top-1 nine | EMD x10^2 nine | s/input |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for name in ("latentmapper", "goembed", "goembed_3views"):
        entry = merged["systems"].get(name)
        if entry is None:
            continue
        cells = [fmt((entry.get(s) or {}).get("chamfer_x1e3")) for s in VIEW_SETS]
        cells.append(fmt((entry.get("nine_views") or {}).get("identification_top1")))
        print(f"| {name} | " + " | ".join(cells) + f" | {fmt((entry.get('nine_views') or {}).get('emd_x1e2'))} | "
              f"{fmt(entry.get('seconds_per_image'))} |")
    print(f"3 views / 1 view Chamfer (nine views): {fmt(ratio)} (target <= {TARGET_RATIO}) -> {results_path}")
    return 0
