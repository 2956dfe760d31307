"""Benchmark a saved pipeline: load time, and image -> GLB seconds split by stage.

    python benchmarks/benchmark_pipeline.py --model /tmp/latentmapper-car [--images a.png b.png ...]
        [--dataset data/car --split test --num-images 5] [--resolution 128] [--repeats 5] [--threads N]

Stages, each timed with its own clock and reported as medians over every (image, repeat):
features (image checks, CLIP embedding, ViT keys, bag of descriptors), mapper (autoencoder
code + mapper), SDF grid (coarse-to-fine decoder queries), marching cubes, GLB export; plus
the end-to-end ``pipe(image, output_type="glb")`` call. Load time is the median of several
``from_pretrained`` calls after a first warm-up one (which also pays one-off lazy imports);
the import of the package is timed separately. The 1-minute load average is printed: on a
shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_t0 = time.perf_counter()
import torch  # noqa: E402

from latentmapper.pipeline import LatentMapperPipeline  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _t0

from latentmapper.geometry import latent_to_grid, marching_cubes  # noqa: E402
from latentmapper.mesh_io import export_mesh  # noqa: E402


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def benchmark_images(args: argparse.Namespace) -> list:
    if args.images:
        return [str(p) for p in args.images]
    from datasets import load_from_disk

    split = load_from_disk(str(args.dataset))[args.split]
    rows = split.select(range(min(args.num_images, len(split))))
    return [views[args.view] for views in rows["images"]]


def time_load(model: str, repeats: int) -> tuple[float, float, LatentMapperPipeline]:
    started = time.perf_counter()
    pipe = LatentMapperPipeline.from_pretrained(model)
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        pipe = LatentMapperPipeline.from_pretrained(model)
        times.append(time.perf_counter() - started)
    return first, statistics.median(times), pipe


class Clock:
    """Wall and process CPU seconds of consecutive stages."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._start = (time.perf_counter(), time.process_time())

    def lap(self, stage: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.wall[stage], self.cpu[stage] = now[0] - self._start[0], now[1] - self._start[1]
        self._start = now


def time_stages(pipe: LatentMapperPipeline, image, resolution: int) -> Clock:
    clock = Clock()
    clip, bag = pipe.encode_features(pipe.prepare_images(image))
    clock.lap("features")
    latent = pipe.map_features(clip, bag)[0]
    clock.lap("mapper")
    grid = latent_to_grid(pipe.dit, latent, resolution)
    clock.lap("SDF grid")
    mesh = marching_cubes(grid)
    clock.lap("marching cubes")
    export_mesh(mesh, "glb")
    clock.lap("GLB export")
    clock.wall["sum of stages"], clock.cpu["sum of stages"] = sum(clock.wall.values()), sum(clock.cpu.values())
    pipe(image, resolution=resolution, output_type="glb")
    clock.lap("pipe(image, output_type='glb')")
    return clock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="pipeline folder or repo id")
    parser.add_argument("--images", nargs="*", type=Path, default=None, help="image files (default: dataset renders)")
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "car", help="used when --images is not given")
    parser.add_argument("--split", default="test")
    parser.add_argument("--view", type=int, default=1, help="which of the 9 renders of each shape")
    parser.add_argument("--num-images", type=int, default=5)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per image (after one warm-up)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's choice)")
    parser.add_argument("--device", default=None, help="default: cuda when present, else cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")

    print(f"load average (1, 5, 15 min): {load_average()}; torch threads {torch.get_num_threads()}; device {device}")
    print(f"import latentmapper.pipeline: {IMPORT_SECONDS:.2f} s")
    first, load, pipe = time_load(args.model, repeats=3)
    print(f"from_pretrained: {load:.2f} s median (first call {first:.2f} s)")
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)

    images = benchmark_images(args)
    time_stages(pipe, images[0], args.resolution)  # warm-up
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for image in images:
        for _ in range(args.repeats):
            clock = time_stages(pipe, image, args.resolution)
            for stage in clock.wall:
                wall.setdefault(stage, []).append(clock.wall[stage])
                cpu.setdefault(stage, []).append(clock.cpu[stage])
    count = len(next(iter(wall.values())))
    print(f"image -> GLB at {args.resolution}^3, {len(images)} images x {args.repeats} repeats ({count} runs), medians "
          "(wall: elapsed; cpu: this process's CPU time over all its threads):")
    for stage, values in wall.items():
        print(f"  {stage:<32s} wall {statistics.median(values):6.3f} s (min {min(values):.3f}, max {max(values):.3f})"
              f"   cpu {statistics.median(cpu[stage]):6.3f} s")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
