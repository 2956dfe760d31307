"""Benchmark DIT meshing (queries and seconds, coarse-to-fine vs dense) and, given data, reconstruction.

    python train/benchmark.py                                   # CPU-preset decoder, fitted to a toy car
    python train/benchmark.py --decoder runs/dit_cpu/decoder --latents runs/dit_cpu/latents.safetensors \\
        --dataset data/cars --num-eval-shapes 20               # + Chamfer of train (codes) and test (fit_latent)

Meshing: for each resolution, the decoder queries a coarse-to-fine grid makes against the
dense N^3, and the median latent -> mesh seconds split into SDF grid and marching cubes.
``--check-dense`` also evaluates the dense grid and compares the two meshes (their vertex
sets' Chamfer must be 0: the same surface). Without ``--decoder`` the decoder has the CPU
preset's size; its random weights are first fitted for ``--fit-steps`` steps to a toy car,
so that the surface (and hence the query count) is car-like rather than random.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from latentmapper.geometry import (  # noqa: E402
    chamfer_distance,
    chamfer_x1e3,
    emd_x1e2,
    latent_to_grid,
    latent_to_mesh,
    marching_cubes,
)
from latentmapper.geometry.batching import auto_workers, cpu_workers, query_sdf  # noqa: E402
from latentmapper.models import DITDecoder, fit_latent  # noqa: E402

CPU_PRESET = Path(__file__).resolve().parent / "configs" / "dit_cpu.json"


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
    config = json.loads(CPU_PRESET.read_text())["model"]
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


def evaluate(decoder, args) -> None:
    """Mean Chamfer (x1e3) and EMD (x1e2) of train shapes from their codes and test shapes via fit_latent."""
    import datasets
    from safetensors.torch import load_file

    data = datasets.load_from_disk(args.dataset)
    latents = load_file(args.latents) if args.latents else {}
    for split in ("train", "test"):
        if split not in data:
            continue
        rows = data[split].select_columns(["shape_id", "sdf_samples", "surface_points"]).with_format("numpy")
        count = min(args.num_eval_shapes, len(rows))
        cds, emds, started = [], [], time.perf_counter()
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
            cds.append(chamfer_x1e3(mesh, gt))
            emds.append(emd_x1e2(mesh, gt, num_points=args.emd_points))
        how = "codes" if split == "train" else f"fit_latent ({args.fit_latent_steps} steps)"
        if cds:
            print(
                f"{split:5s} shapes from {how}: mean Chamfer x1e3 {np.mean(cds):.3f} (median {np.median(cds):.3f}), "
                f"mean EMD x1e2 {np.mean(emds):.3f}, over {len(cds)} shapes, {time.perf_counter() - started:.0f} s"
            )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--decoder", help="a saved DITDecoder folder; default: the CPU preset's size")
    p.add_argument("--latents", help="latents.safetensors from train_dit.py")
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
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.dataset and not (args.decoder and args.latents):
        p.error("--dataset evaluation needs a trained --decoder and its --latents")

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


if __name__ == "__main__":
    main()
