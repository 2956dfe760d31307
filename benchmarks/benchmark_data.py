"""Time the dataset build: the whole build of N shapes, and the split per stage for a few.

    python benchmarks/benchmark_data.py --category car --num-shapes 600      # the issue's target: < 15 min

Prints figures; asserts nothing (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def stage_split(category: str, count: int) -> None:
    from latentmapper.data.families import generate_shape
    from latentmapper.data.normalize import normalize_to_unit_sphere
    from latentmapper.data.records import RecordConfig, mesh_procedural_shape
    from latentmapper.data.render import render_mesh
    from latentmapper.data.sdf_sampling import sample_sdf

    config = RecordConfig()
    times: dict[str, list[float]] = {"generate+mesh": [], "sdf samples": [], "9 renders": []}
    faces = []
    for seed in range(count):
        t0 = time.perf_counter()
        mesh = mesh_procedural_shape(generate_shape(category, seed), config.mesh_resolution)
        t1 = time.perf_counter()
        normalised, _, _ = normalize_to_unit_sphere(mesh)
        sample_sdf(normalised, config.sdf_samples, seed=seed)
        t2 = time.perf_counter()
        for camera in config.cameras():
            render_mesh(normalised, camera, config.image_size, supersample=config.supersample)
        t3 = time.perf_counter()
        times["generate+mesh"].append(t1 - t0)
        times["sdf samples"].append(t2 - t1)
        times["9 renders"].append(t3 - t2)
        faces.append(len(mesh.faces))
    print(f"per-shape stage medians over {count} {category} shapes (1 process, 1 thread):")
    for name, values in times.items():
        print(f"  {name:<14} {statistics.median(values):6.3f} s")
    print(f"  faces          median {int(np.median(faces))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", default="car")
    parser.add_argument("--num-shapes", type=int, default=600)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--profile", type=int, default=7, help="shapes to time stage by stage first")
    parser.add_argument("--out", type=Path, default=None, help="keep the built dataset here")
    args = parser.parse_args()

    torch.set_num_threads(1)
    if args.profile:
        stage_split(args.category, args.profile)

    from latentmapper.data.build import build_dataset

    workers = args.workers or os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "dataset"
        start = time.perf_counter()
        build_dataset(args.category, args.num_shapes, out, num_workers=workers, overwrite=True)
        seconds = time.perf_counter() - start
    print(f"built {args.num_shapes} {args.category} shapes with {workers} workers in {seconds:.0f} s "
          f"({seconds / 60:.1f} min; {seconds / args.num_shapes:.2f} s per shape; target < 15 min for 600)")


if __name__ == "__main__":
    main()
