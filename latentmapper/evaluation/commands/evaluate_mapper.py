"""Evaluate single-view reconstruction on the test split: mapper vs nearest neighbour vs DIT oracle.

    python evaluate/evaluate_mapper.py --dataset data/car --features runs/features --autoencoder runs/autoencoder
        --mapper runs/mapper --dit runs/dit --output runs/eval [--resolution 128] [--limit N]
        [--oracle-latents FILE] [--fit-steps 500] [--fit-samples 8000]

For every test shape and each of its 9 views (features cached by ``precompute_features.py``):

* mapper: [frozen autoencoder code, CLIP] -> mapped latent -> mesh;
* nearest neighbour: the training shape whose render has the closest CLIP embedding (cosine,
  over all 9 renders of every training shape) -> its DIT code -> mesh;
* oracle (once per shape): the code fitted to the shape's own SDF samples with the frozen
  decoder (``fit_split_latents.py``; cached as ``OUTPUT/oracle_latents.safetensors``).

Meshes come from the coarse-to-fine grid and marching cubes (``latent_to_mesh``); Chamfer
(x10^3) is taken against the shape's stored surface points. Reported: the mean Chamfer of
each method over all shapes and views, the mapper / oracle ratio, whether the targets hold
(mapper below nearest neighbour, and within 1.5x of the oracle), and the spread of the
mapper's Chamfer across the 9 views of a shape (standard deviation and max - min, averaged
over shapes; plus the mean per view angle). A latent that decodes to no surface counts as a
failure and is left out of the means (the counts are reported). Per-shape results are
cached in ``OUTPUT/per_shape/``, so an interrupted evaluation resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from latentmapper.atomic import atomic_path
from latentmapper.evaluation import LatentMesher as Mesher
from latentmapper.evaluation import nearest_training_shapes
from latentmapper.models import LatentMapper
from latentmapper.training.autoencoder_codes import encode_bags, load_autoencoder
from latentmapper.training.cached_features import load_feature_split
from latentmapper.training.latent_codes import load_latents
from latentmapper.atomic import write_json
from latentmapper.training.split_latents import fit_split_latents, load_decoder, split_sdf_samples

MAPPER_TARGET_RATIO = 1.5


def load_mapper(path: Path) -> LatentMapper:
    path = Path(path)
    if not (path / "config.json").is_file() and (path / "mapper" / "config.json").is_file():
        path = path / "mapper"
    return LatentMapper.from_pretrained(path).eval().requires_grad_(False)


@torch.no_grad()
def mapped_latents(mapper: LatentMapper, codes: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
    """(S, V, code) and (S, V, clip) -> (S, V, latent)."""
    flat = mapper(codes.flatten(0, 1), clip.flatten(0, 1))
    return flat.reshape(*codes.shape[:2], -1)


def surface_points(dataset_dir: Path, split: str, shape_ids: list[str]) -> dict[str, np.ndarray]:
    from datasets import load_from_disk

    rows = load_from_disk(str(dataset_dir))[split].select_columns(["shape_id", "surface_points"]).with_format("numpy")
    wanted = set(shape_ids)
    return {str(sid): np.asarray(p, dtype=np.float64).reshape(-1, 3)
            for sid, p in zip(rows["shape_id"], rows["surface_points"]) if str(sid) in wanted}


def _mean(values) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(kept)) if kept else None


def summarize(per_shape: list[dict], view_yaw: list[float]) -> dict:
    mapper = [v for r in per_shape for v in r["mapper"]]
    nn = [v for r in per_shape for v in r["nearest_neighbour"]]
    oracle = [r["oracle"] for r in per_shape]
    spread_std, spread_range = [], []
    for r in per_shape:
        views = [v for v in r["mapper"] if v is not None]
        if len(views) > 1:
            spread_std.append(float(np.std(views)))
            spread_range.append(float(np.max(views) - np.min(views)))
    per_view = [_mean([r["mapper"][v] for r in per_shape]) for v in range(len(view_yaw))]
    out = {
        "shapes": len(per_shape), "views_per_shape": len(view_yaw),
        "chamfer_x1e3": {"oracle": _mean(oracle), "mapper": _mean(mapper), "nearest_neighbour": _mean(nn)},
        "failures": {"oracle": sum(v is None for v in oracle), "mapper": sum(v is None for v in mapper),
                     "nearest_neighbour": sum(v is None for v in nn)},
        "mapper_view_spread": {"mean_std": _mean(spread_std), "mean_max_minus_min": _mean(spread_range),
                               "mean_by_yaw": {f"{yaw:g}": c for yaw, c in zip(view_yaw, per_view)}},
        "latent_l1_to_oracle": {"mapper": _mean([r["latent_l1"]["mapper"] for r in per_shape]),
                                "nearest_neighbour": _mean([r["latent_l1"]["nearest_neighbour"] for r in per_shape])},
    }
    c = out["chamfer_x1e3"]
    if None not in c.values():
        out["mapper_over_oracle"] = c["mapper"] / c["oracle"]
        out["targets"] = {"mapper_beats_nearest_neighbour": c["mapper"] < c["nearest_neighbour"],
                          f"mapper_within_{MAPPER_TARGET_RATIO}x_oracle": c["mapper"] <= MAPPER_TARGET_RATIO * c["oracle"]}
    return out


def markdown_table(summary: dict) -> str:
    c, f = summary["chamfer_x1e3"], summary["failures"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    lines = ["| method | Chamfer x10^3 (mean over shapes and views) | empty meshes |", "| --- | --- | --- |",
             f"| DIT oracle (fitted code) | {fmt(c['oracle'])} | {f['oracle']} |",
             f"| nearest neighbour (CLIP) | {fmt(c['nearest_neighbour'])} | {f['nearest_neighbour']} |",
             f"| 3D-LatentMapper | {fmt(c['mapper'])} | {f['mapper']} |"]
    spread = summary["mapper_view_spread"]
    lines.append(f"\nSpread of the mapper's Chamfer across the {summary['views_per_shape']} views of a shape: "
                 f"std {fmt(spread['mean_std'])}, max - min {fmt(spread['mean_max_minus_min'])} (means over shapes).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path)
    parser.add_argument("--features", required=True, type=Path, help="precompute_features.py output")
    parser.add_argument("--autoencoder", required=True, type=Path)
    parser.add_argument("--mapper", required=True, type=Path)
    parser.add_argument("--dit", required=True, type=Path, help="DIT run folder (decoder/, latents.safetensors)")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes grid")
    parser.add_argument("--limit", type=int, default=None, help="only the first N shapes")
    parser.add_argument("--oracle-latents", type=Path, default=None, help="codes fitted to the split's shapes")
    parser.add_argument("--fit-steps", type=int, default=500)
    parser.add_argument("--fit-samples", type=int, default=8000)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    decoder = load_decoder(args.dit)
    autoencoder, mapper = load_autoencoder(args.autoencoder), load_mapper(args.mapper)
    train_latents = load_latents(args.dit)
    test, train = load_feature_split(args.features, args.split), load_feature_split(args.features, "train")
    count = len(test.shape_ids) if args.limit is None else min(args.limit, len(test.shape_ids))
    shape_ids = test.shape_ids[:count]
    test_clip, test_bag = test.clip[:count], test.bag[:count]

    keep = [i for i, sid in enumerate(train.shape_ids) if sid in train_latents]
    train_ids = [train.shape_ids[i] for i in keep]
    nearest = nearest_training_shapes(test_clip, train.clip[keep])
    mapped = mapped_latents(mapper, encode_bags(autoencoder, test_bag), test_clip)

    if args.oracle_latents is not None:
        oracle = load_latents(args.oracle_latents)
        missing = [sid for sid in shape_ids if sid not in oracle]
        if missing:
            raise SystemExit(f"{args.oracle_latents} has no code for {len(missing)} of the {count} {args.split} shapes "
                             f"(first: {missing[0]}); pass --limit {count - len(missing)} if it holds the first ones, "
                             "or leave out --oracle-latents to fit them")
    else:
        ids, samples = split_sdf_samples(args.dataset, args.split)
        index = {sid: i for i, sid in enumerate(ids)}
        oracle = fit_split_latents(decoder, shape_ids, [samples[index[s]] for s in shape_ids],
                                   args.output / "oracle_latents.safetensors", steps=args.fit_steps,
                                   samples=args.fit_samples)
    gt = surface_points(args.dataset, args.split, shape_ids)

    mesher, cache = Mesher(decoder, args.resolution), args.output / "per_shape"
    cache.mkdir(parents=True, exist_ok=True)
    per_shape = []
    for s, sid in enumerate(tqdm(shape_ids, desc="evaluating", unit="shape")):
        path = cache / f"{sid}.json"
        if path.is_file():
            per_shape.append(json.loads(path.read_text()))
            continue
        nn_ids = [train_ids[int(i)] for i in nearest[s]]
        oracle_code = oracle[sid].float()
        record = {
            "shape_id": sid,
            "oracle": mesher.chamfer(oracle_code, gt[sid]),
            "mapper": [mesher.chamfer(mapped[s, v], gt[sid]) for v in range(mapped.shape[1])],
            "nearest_neighbour": [mesher.chamfer(train_latents[n], gt[sid], key=n) for n in nn_ids],
            "nearest_neighbour_ids": nn_ids,
            "latent_l1": {"mapper": float((mapped[s] - oracle_code).abs().mean()),
                          "nearest_neighbour": float(torch.stack([(train_latents[n] - oracle_code).abs().mean()
                                                                  for n in nn_ids]).mean())},
        }
        write_json(path, record)
        per_shape.append(record)

    summary = summarize(per_shape, test.view_yaw)
    summary.update(split=args.split, resolution=args.resolution, seconds=round(time.perf_counter() - started, 1),
                   sources={k: str(getattr(args, k)) for k in ("dataset", "features", "autoencoder", "mapper", "dit")})
    write_json(args.output / "evaluation.json", summary)
    table = markdown_table(summary)
    with atomic_path(args.output / "evaluation.md") as tmp:
        tmp.write_text(table)
    print(table)
    print(json.dumps({k: summary[k] for k in ("mapper_over_oracle", "targets") if k in summary}, indent=1))
    return 0
