"""Benchmark DIT meshing (queries and seconds, coarse-to-fine vs dense) and, given data, reconstruction.

    python benchmarks/benchmark.py                                   # CPU-preset decoder, fitted to a toy car
    python benchmarks/benchmark.py --decoder runs/dit_cpu/decoder --latents runs/dit_cpu/latents.safetensors \\
        --dataset data/cars --num-eval-shapes 20               # + Chamfer of train (codes) and test (fit_latent)
        [--results hub_cards/results/car.json]                 # + write them there as dit_fit (model cards)

Meshing: for each resolution, the decoder queries a coarse-to-fine grid makes against the
dense N^3, and the median latent -> mesh seconds split into SDF grid and marching cubes.
``--check-dense`` also evaluates the dense grid and compares the two meshes (their vertex
sets' Chamfer must be 0: the same surface). Without ``--decoder`` the decoder has the CPU
preset's size; its random weights are first fitted for ``--fit-steps`` steps to a toy car,
so that the surface (and hence the query count) is car-like rather than random.

Reconstruction (``--dataset``): the first ``--num-eval-shapes`` training shapes decoded from
their own codes and test shapes from codes fitted to their SDF samples (the oracle), each with
mean Chamfer, top-1 identification among the shapes evaluated (``latentmapper.evaluation.cross``)
and means per family, beside the constant answer on the same shapes: the stored surface points
of the most central of the first ``--constant-candidates`` training shapes, which is left out
of the training rows it would match exactly. A DIT whose fit is barely below the constant, or
whose identification is near 1/N, has collapsed to few shapes. Beside them, each shape's own
ground-truth mesh sampled anew: the Chamfer a perfect decoder would score. ``--results`` merges these
numbers into a results JSON as ``dit_fit`` (``train_from_codes``, ``oracle_test``), which the
tables and model cards show.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import trimesh

from latentmapper.evaluation.cross import (CONSTANT_CANDIDATES, Gallery, identification_top1,
                                           most_central)
from latentmapper.evaluation.figure import FigureRow, make_figure
from latentmapper.evaluation.results import merge_key, round_score
from latentmapper.evaluation.shapes import family_of
from latentmapper.geometry import (
    chamfer_distance,
    chamfer_x1e3,
    emd_x1e2,
    latent_to_grid,
    latent_to_mesh,
    marching_cubes,
)
from latentmapper.geometry import sample_surface_points
from latentmapper.geometry.batching import auto_workers, cpu_workers, query_sdf
from latentmapper.models import DITDecoder, fit_latent


def _box(p: torch.Tensor, centre, half) -> torch.Tensor:
    q = (p - torch.tensor(centre)).abs() - torch.tensor(half)
    return q.clamp(min=0).norm(dim=-1) + q.max(dim=-1).values.clamp(max=0)


def toy_car_sdf(p: torch.Tensor) -> torch.Tensor:
    """A car-sized analytic SDF (rounded body and cabin, four wheels) in the unit-sphere frame."""
    d = torch.minimum(
        _box(p, (0.0, -0.1, 0.0), (0.85, 0.15, 0.36)) - 0.04,
        _box(p, (-0.1, 0.14, 0.0), (0.42, 0.11, 0.30)) - 0.04,
    )
    for x in (-0.55, 0.55):
        for z in (-0.34, 0.34):
            q = p - torch.tensor([x, -0.25, z])
            cyl = torch.stack([torch.sqrt(q[:, 0] ** 2 + q[:, 1] ** 2) - 0.16, q[:, 2].abs() - 0.06], -1)
            d = torch.minimum(d, cyl.clamp(min=0).norm(dim=-1) + cyl.max(-1).values.clamp(max=0))
    return d


def fit_to_toy_car(decoder: DITDecoder, steps: int, seed: int = 0) -> torch.Tensor:
    """Briefly train decoder and one code on the toy car, so the benchmark meshes a car-like surface."""
    gen = torch.Generator().manual_seed(seed)
    latent = torch.zeros(decoder.latent_size, requires_grad=True)
    opt = torch.optim.Adam([{"params": decoder.parameters(), "lr": 2e-3}, {"params": [latent], "lr": 1e-3}])
    clamp = decoder.config.clamp_distance
    decoder.train()
    with cpu_workers(torch.device("cpu"), 1):  # one thread: robust on a shared CPU
        for _ in range(steps):
            near = (torch.rand(8192, 3, generator=gen) * 2 - 1) * torch.tensor([0.95, 0.45, 0.45])
            sdf = toy_car_sdf(near)
            far = torch.rand(512, 3, generator=gen) * 2 - 1
            xyz = torch.cat([near[sdf < 0][:1792], near[(sdf >= 0) & (sdf < 0.15)][:1792], far])  # DeepSDF-like
            target = toy_car_sdf(xyz).clamp(-clamp, clamp)
            pred = decoder.sdf(latent, xyz).clamp(-clamp, clamp)
            loss = (pred - target).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    decoder.eval()
    return latent.detach()


def load_decoder(args) -> tuple[DITDecoder, torch.Tensor, str]:
    torch.manual_seed(args.seed)
    if args.decoder:
        decoder = DITDecoder.from_pretrained(args.decoder).eval()
        latent = torch.zeros(decoder.latent_size)
        what = f"trained decoder {args.decoder}"
        if args.latents:
            from safetensors.torch import load_file

            latents = load_file(args.latents)
            key = args.shape_id or sorted(latents)[0]
            latent, what = latents[key], f"{what}, latent of {key}"
        return decoder, latent, what
    if args.dit_config is None:
        raise SystemExit("no decoder: pass --decoder, or --dit-config for an untrained one of a preset's size")
    config = json.loads(Path(args.dit_config).read_text())["model"]
    decoder = DITDecoder(**config).eval()
    if args.fit_steps > 0:
        started = time.perf_counter()
        latent = fit_to_toy_car(decoder, args.fit_steps, args.seed)
        seconds = time.perf_counter() - started
        what = f"CPU-preset decoder, random init fitted to a toy car ({args.fit_steps} steps, {seconds:.0f} s)"
    else:
        latent, what = torch.zeros(decoder.latent_size), "CPU-preset decoder, random weights"
    return decoder, latent, what


def decoder_throughput(decoder: DITDecoder, latent: torch.Tensor, count: int = 65536) -> float:
    """Points per second the grid's query path gets (best of 3)."""
    fn = decoder.sdf_fn(latent)
    pts = torch.rand(count, 3) * 2 - 1
    best = float("inf")
    with cpu_workers(torch.device("cpu"), auto_workers()) as workers:
        query_sdf(fn, pts[:8192], workers=workers)
        for _ in range(3):
            started = time.perf_counter()
            query_sdf(fn, pts, workers=workers)
            best = min(best, time.perf_counter() - started)
    return count / best


def bench_meshing(decoder, latent, resolution: int, repeats: int, margin: float) -> dict:
    grid_s, mc_s, grid = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        grid = latent_to_grid(decoder, latent, resolution, margin=margin)
        t1 = time.perf_counter()
        mesh = marching_cubes(grid)
        t2 = time.perf_counter()
        grid_s.append(t1 - t0)
        mc_s.append(t2 - t1)
    total = [a + b for a, b in zip(grid_s, mc_s)]
    return {
        "resolution": resolution,
        "queries": grid.num_queries,
        "dense_queries": grid.dense_queries,
        "ratio": grid.dense_queries / grid.num_queries,
        "grid_s": statistics.median(grid_s),
        "mc_s": statistics.median(mc_s),
        "total_s": statistics.median(total),
        "faces": len(mesh.faces),
        "grid": grid,
        "mesh": mesh,
    }


def check_dense(decoder, latent, result: dict, margin: float) -> dict:
    started = time.perf_counter()
    dense = latent_to_grid(decoder, latent, result["resolution"], coarse_to_fine=False)
    seconds = time.perf_counter() - started
    mesh = marching_cubes(dense)
    sign_diffs = int(((dense.values < 0) != (result["grid"].values < 0)).sum())
    vertex_chamfer = chamfer_distance(np.asarray(result["mesh"].vertices), np.asarray(mesh.vertices))
    return {
        "dense_s": seconds,
        "sign_diffs": sign_diffs,
        "vertex_chamfer": vertex_chamfer,
        "dense_faces": len(mesh.faces),
        "slope": in_band_slope(dense.values, dense.spacing, decoder.config.clamp_distance),
    }


def in_band_slope(values: np.ndarray, spacing: np.ndarray, clamp: float) -> float:
    """Largest |difference quotient| between grid neighbours inside the clamp: a Lipschitz estimate.

    The pruning is exact when ``margin`` is at least the field's Lipschitz constant there.
    """
    worst = 0.0
    for axis in range(3):
        a, b = np.take(values, range(values.shape[axis] - 1), axis), np.take(values, range(1, values.shape[axis]), axis)
        band = (np.abs(a) < clamp) & (np.abs(b) < clamp)
        if band.any():
            worst = max(worst, float((np.abs(b - a)[band]).max() / spacing[axis]))
    return worst


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _mean(values) -> float | None:
    return round_score(float(np.mean(values))) if len(values) else None


def fit_summary(shapes: list[dict], constant_id: str, constant_points: np.ndarray) -> dict:
    """One ``dit_fit`` row from reconstructed shapes (``id``, ``family``, ``gt`` and predicted ``points``, ``emd``).

    Identification is among the ``shapes`` themselves; the constant row leaves out the constant shape.
    Shapes that carry ``floor`` (their own ground-truth mesh sampled anew, scored like a prediction)
    add ``ground_truth``: what a perfect decoder would score on the same shapes.
    """
    ids = [s["id"] for s in shapes]
    gallery = Gallery({s["id"]: s["gt"] for s in shapes})
    cds = [chamfer_x1e3(s["points"], s["gt"]) for s in shapes]
    top1 = identification_top1([(s["id"], gallery.chamfer_x1e3(s["points"])) for s in shapes], ids)
    others = [s for s in shapes if s["id"] != constant_id]
    constant_cds = [chamfer_x1e3(constant_points, s["gt"]) for s in others]
    constant_top1 = None
    if others:
        cross = Gallery({s["id"]: s["gt"] for s in others}).chamfer_x1e3(constant_points)
        constant_top1 = identification_top1([(s["id"], cross) for s in others], [s["id"] for s in others])
    families = {}
    for family in sorted({s["family"] for s in shapes}):
        own = [cd for s, cd in zip(shapes, cds) if s["family"] == family]
        const = [cd for s, cd in zip(others, constant_cds) if s["family"] == family]
        families[family] = {"shapes": len(own), "chamfer_x1e3": _mean(own), "constant_chamfer_x1e3": _mean(const)}
    return {"shapes": len(shapes), "chamfer_x1e3": _mean(cds),
            "median_chamfer_x1e3": round_score(float(np.median(cds))) if cds else None,
            "emd_x1e2": _mean([s["emd"] for s in shapes]), "identification_top1": round_score(top1),
            "constant": {"shapes": len(others), "chamfer_x1e3": _mean(constant_cds),
                         "identification_top1": round_score(constant_top1)},
            "by_family": families,
            **({"ground_truth": {"chamfer_x1e3": _mean([s["floor"] for s in shapes])}}
               if shapes and all("floor" in s for s in shapes) else {})}


def constant_answer(train_rows, candidates: int) -> tuple[str, np.ndarray, float]:
    """(id, stored surface points, mean Chamfer x1e3 to the others) of the most central of the first training shapes."""
    rows = train_rows.select(range(min(candidates, len(train_rows))))
    points = {str(sid): np.asarray(p, np.float64).reshape(-1, 3)
              for sid, p in zip(rows["shape_id"], rows["surface_points"])}
    shape_id, mean = most_central(points)
    return shape_id, points[shape_id], mean


def print_fit(title: str, entry: dict, constant_id: str, seconds: float) -> None:
    const = entry["constant"]
    ratio = entry["chamfer_x1e3"] / const["chamfer_x1e3"] if const["chamfer_x1e3"] else float("nan")
    top1 = "-" if entry["identification_top1"] is None else f"{entry['identification_top1']:.3f}"
    const_top1 = "-" if const["identification_top1"] is None else f"{const['identification_top1']:.3f}"
    print(f"{title}: mean Chamfer x1e3 {entry['chamfer_x1e3']:.3f} (median {entry['median_chamfer_x1e3']:.3f}), "
          f"mean EMD x1e2 {entry['emd_x1e2']:.3f}, top-1 identification {top1} "
          f"(chance {1 / entry['shapes']:.3f}), over {entry['shapes']} shapes, {seconds:.0f} s")
    print(f"    constant {constant_id}: Chamfer x1e3 {_text(const['chamfer_x1e3'])}, top-1 identification "
          f"{const_top1} over {const['shapes']} shapes; DIT / constant Chamfer {ratio:.3f}")
    if "ground_truth" in entry:
        print(f"    ground truth resampled (a perfect decoder): Chamfer x1e3 "
              f"{_text(entry['ground_truth']['chamfer_x1e3'])}")
    print("    per family (DIT / constant): " + ", ".join(
        f"{f} {_text(v['chamfer_x1e3'])} / {_text(v['constant_chamfer_x1e3'])} ({v['shapes']})"
        for f, v in entry["by_family"].items()))


def correction_report(decoder, latent, row, gt: np.ndarray, args) -> dict:
    """How much the latent correction carries for one shape: its mean magnitude at the shape's SDF
    samples within 0.02 of the surface, and the mesh (and Chamfer) of warp + template alone."""
    samples = torch.from_numpy(np.asarray(row["sdf_samples"], np.float32).reshape(-1, 4))
    near = samples[samples[:, 3].abs() < 0.02][:20000]
    with torch.no_grad():
        correction = decoder.correction_sdf(latent, near[:, :3]).abs()
    report = {"near_surface_abs": float(correction.mean()), "near_surface_target_abs": float(near[:, 3].abs().mean())}
    try:
        mesh = latent_to_mesh(_template_only(decoder), latent, args.eval_resolution, margin=args.margin)
        report["template_only_chamfer_x1e3"] = chamfer_x1e3(mesh, gt)
    except ValueError:  # warp + template alone may leave no surface
        mesh, report["template_only_chamfer_x1e3"] = None, float("nan")
    report["mesh"] = mesh
    return report


_PLAIN: dict[int, DITDecoder] = {}


def _template_only(decoder: DITDecoder) -> DITDecoder:
    if id(decoder) not in _PLAIN:
        _PLAIN[id(decoder)] = decoder.without_correction().eval()
    return _PLAIN[id(decoder)]


def summarise_corrections(reports: list[dict]) -> dict:
    return {key: float(np.nanmean([r[key] for r in reports])) for key in reports[0]}


def save_correction_figure(rows_by_split: dict[str, list], path: str, count: int = 6) -> None:
    """Ground truth | DIT with its correction | warp + template alone, for the first shapes of each split."""
    rows = [
        FigureRow(f"{split} {sid}", image, {"full": full, "plain": plain}, gt_mesh)
        for split, items in rows_by_split.items()
        for sid, image, full, plain, gt_mesh in items[:count]
    ]
    make_figure(rows, [("full", "DIT + correction"), ("plain", "warp+template")]).save(path)


def evaluate(decoder, args) -> dict:
    """The ``dit_fit`` entry: train shapes from their codes and test shapes via fit_latent, against the constant."""
    import datasets
    from safetensors.torch import load_file

    data = datasets.load_from_disk(args.dataset)
    latents = load_file(args.latents) if args.latents else {}
    columns = ["shape_id", "sdf_samples", "surface_points", "vertices", "faces"] + [
        c for c in ("params", "subtype") if c in data["train"].column_names]
    train_points = data["train"].select_columns(["shape_id", "surface_points"]).with_format("numpy")
    constant_id, constant_points, constant_mean = constant_answer(train_points, args.constant_candidates)
    print(f"constant answer: {constant_id}, mean Chamfer x1e3 {constant_mean:.3f} to the other "
          f"{min(args.constant_candidates, len(train_points)) - 1} candidates")
    fit = {"constant_shape": constant_id}
    figure_rows: dict[str, list] = {}
    for split, key in (("train", "train_from_codes"), ("test", "oracle_test")):
        if split not in data:
            continue
        rows = data[split].select_columns(columns).with_format("numpy")
        count = min(args.num_eval_shapes, len(rows))
        shapes, started = [], time.perf_counter()
        for i in range(count):
            row = rows[i]
            sid = str(row["shape_id"])
            if split == "train":
                if sid not in latents:
                    print(f"  {sid}: no code in {args.latents}; skipped")
                    continue
                latent = latents[sid]
            else:
                latent = fit_latent(
                    decoder,
                    np.asarray(row["sdf_samples"], np.float32).reshape(-1, 4),
                    num_steps=args.fit_latent_steps,
                    num_samples=args.fit_latent_samples,
                    seed=i,
                )
            gt = np.asarray(row["surface_points"], np.float32).reshape(-1, 3)
            try:
                mesh = latent_to_mesh(decoder, latent, args.eval_resolution, margin=args.margin)
            except ValueError as err:
                print(f"  {split} {sid}: {err}")
                continue
            family = family_of(*(str(row[c]) if c in row else None for c in ("params", "subtype")))
            gt_mesh = trimesh.Trimesh(np.asarray(row["vertices"]).reshape(-1, 3),
                                      np.asarray(row["faces"]).reshape(-1, 3), process=False)
            shapes.append({"id": sid, "family": family, "gt": gt, "points": sample_surface_points(mesh),
                           "emd": emd_x1e2(mesh, gt, num_points=args.emd_points),
                           "floor": chamfer_x1e3(gt_mesh, gt)})
            if decoder.correction is not None:
                shapes[-1]["correction"] = correction_report(decoder, latent, row, gt, args)
                plain = shapes[-1]["correction"].pop("mesh")
                if args.figure:
                    image = data[split][i]["images"][0]
                    figure_rows.setdefault(split, []).append((sid, image, mesh, plain, gt_mesh))
        if shapes:
            fit[key] = fit_summary(shapes, constant_id, constant_points)
            how = "codes" if split == "train" else f"fit_latent ({args.fit_latent_steps} steps)"
            print_fit(f"{split:5s} shapes from {how}", fit[key], constant_id, time.perf_counter() - started)
            if decoder.correction is not None:
                fit[key]["correction"] = summarise_corrections([s["correction"] for s in shapes])
                c = fit[key]["correction"]
                print(f"      correction: mean |C| {c['near_surface_abs']:.4f} within 0.02 of the surface "
                      f"(target SDF spread there {c['near_surface_target_abs']:.4f}); warp + template alone: "
                      f"Chamfer x1e3 {c['template_only_chamfer_x1e3']:.3f} (with the correction "
                      f"{fit[key]['chamfer_x1e3']:.3f})")
    fit["run"] = {"decoder": str(args.decoder), "latents": str(args.latents), "dataset": str(args.dataset),
                  "num_eval_shapes": args.num_eval_shapes, "resolution": args.eval_resolution,
                  "fit_latent_steps": args.fit_latent_steps, "constant_candidates": args.constant_candidates}
    if args.figure and figure_rows:
        save_correction_figure(figure_rows, args.figure)
        print(f"figure (ground truth | DIT with correction | warp + template alone) written to {args.figure}")
    if args.results:
        merge_key(args.results, "dit_fit", fit)
        print(f"dit_fit written to {args.results}")
    return fit


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> None:
    """Benchmark as the command line asks; ``presets_dir`` holds the CPU preset sizing the untrained decoder."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--decoder", help="a saved DITDecoder folder; default: the CPU preset's size")
    p.add_argument("--latents", help="latents.safetensors from train/train_dit.py")
    p.add_argument("--dit-config", default=Path(presets_dir) / "dit_cpu.json" if presets_dir else None,
                   help="without --decoder: the config whose model section sizes the decoder (default: the CPU preset)")
    p.add_argument("--shape-id", help="which latent to mesh (default: the first id)")
    p.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--margin", type=float, default=1.0)
    p.add_argument("--check-dense", type=int, nargs="*", default=[128], help="resolutions to compare with a dense grid")
    p.add_argument("--fit-steps", type=int, default=250, help="toy-car fitting of an untrained decoder (0: none)")
    p.add_argument("--dataset", help="evaluate reconstruction on this dataset's train and test splits")
    p.add_argument("--num-eval-shapes", type=int, default=10)
    p.add_argument("--eval-resolution", type=int, default=128)
    p.add_argument("--fit-latent-steps", type=int, default=500)
    p.add_argument("--fit-latent-samples", type=int, default=4096)
    p.add_argument("--emd-points", type=int, default=1024)
    p.add_argument("--constant-candidates", type=int, default=CONSTANT_CANDIDATES,
                   help="the constant answer is the most central of the first N training shapes")
    p.add_argument("--results", help="merge the reconstruction numbers into this results JSON as dit_fit")
    p.add_argument("--figure", help="with a corrected DIT: save ground truth | DIT | warp + template alone here (PNG)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.dataset and not (args.decoder and args.latents):
        p.error("--dataset evaluation needs a trained --decoder and its --latents")
    if args.results and not args.dataset:
        p.error("--results needs --dataset")

    decoder, latent, what = load_decoder(args)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"decoder: {what}; {torch.get_num_threads()} threads, load average {load:.2f} on {os.cpu_count()} CPUs")
    print(f"decoder throughput: {decoder_throughput(decoder, latent):,.0f} points/s")
    for resolution in args.resolutions:
        r = bench_meshing(decoder, latent, resolution, args.repeats, args.margin)
        print(
            f"{resolution}^3: queries coarse-to-fine {r['queries']:,} vs dense {r['dense_queries']:,} "
            f"({r['ratio']:.1f}x fewer); latent -> mesh median {r['total_s']:.3f} s "
            f"(SDF grid {r['grid_s']:.3f} s + marching cubes {r['mc_s']:.3f} s), {r['faces']:,} faces"
        )
        if resolution in (args.check_dense or []):
            c = check_dense(decoder, latent, r, args.margin)
            print(
                f"    dense check: Chamfer between the two meshes' vertices {c['vertex_chamfer']:.3g}, "
                f"{c['sign_diffs']} grid points of other sign, {c['dense_faces']:,} vs {r['faces']:,} faces "
                f"(dense grid {c['dense_s']:.1f} s); in-band slope up to {c['slope']:.2f} (margin {args.margin})"
            )
    if args.dataset:
        evaluate(decoder, args)
