"""Benchmark a saved pipeline: load time, and image -> GLB seconds split by stage.

    python benchmarks/benchmark_pipeline.py --model /tmp/latentmapper-car [--images a.png b.png ...]
        [--dataset data/car --split test --num-images 5] [--resolution 128] [--repeats 5] [--threads N]

Stages, as the pipeline times them (its output's ``timings`` and ``cpu_timings``), reported
as medians over every (image, repeat): features (image checks, CLIP embedding, ViT keys,
bag of descriptors), mapper (autoencoder code + mapper), SDF grid (coarse-to-fine decoder
queries), marching cubes, GLB export; plus the whole ``pipe(image, output_type="glb")``
call. Load time is the median of several
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

from latentmapper import LatentMapperPipeline  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _t0

from latentmapper.stage_clock import StageClock, rename_stages  # noqa: E402

# The pipeline's stages under the names this benchmark has always printed; image checks count as features.
SHOWN_STAGES = {"prepare": "features", "features": "features", "mapper": "mapper", "sdf_grid": "SDF grid",
                "marching_cubes": "marching cubes", "export": "GLB export"}


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


def time_stages(pipe: LatentMapperPipeline, image, resolution: int) -> tuple[dict[str, float], dict[str, float]]:
    """(wall, cpu) seconds of one ``pipe(image, output_type="glb")`` call, by stage, with their sum and the
    whole call."""
    clock = StageClock()
    out = pipe(image, resolution=resolution, output_type="glb")
    clock.lap("call")
    wall, cpu = rename_stages(out.timings, SHOWN_STAGES), rename_stages(out.cpu_timings, SHOWN_STAGES)
    wall["sum of stages"], cpu["sum of stages"] = sum(out.timings.values()), sum(out.cpu_timings.values())
    wall["pipe(image, output_type='glb')"] = clock.seconds["call"]
    cpu["pipe(image, output_type='glb')"] = clock.cpu_seconds["call"]
    return wall, cpu


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
    print(f"import latentmapper.pipelines: {IMPORT_SECONDS:.2f} s")
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
            stage_wall, stage_cpu = time_stages(pipe, image, args.resolution)
            for stage in stage_wall:
                wall.setdefault(stage, []).append(stage_wall[stage])
                cpu.setdefault(stage, []).append(stage_cpu[stage])
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
