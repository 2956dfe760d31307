"""Fit DIT codes to the shapes of one split (validation or test) with the frozen decoder.

    python train/fit_split_latents.py --dit runs/dit --dataset data/car --split validation
        --output runs/dit/validation_latents.safetensors [--steps 500] [--samples 8000] [--limit N]

The DIT run holds codes for its training shapes only. The mapper's early stopping needs
codes for the validation shapes (``train_mapper.py --val-latents``) and the evaluation's
oracle needs them for the test shapes; both are found as the paper encodes shapes: a fixed
number of Adam steps on the code alone (``latentmapper.models.fit_latent``). Shapes are
fitted a batch at a time and each batch is cached (``OUTPUT.partial/``), so an interrupted
run resumes; the result is one safetensors file, shape_id -> code, like ``latents.safetensors``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

import stage_utils  # noqa: F401  (puts the checkout on sys.path)

from latentmapper.atomic import atomic_path  # noqa: E402
from latentmapper.features.clip import default_device  # noqa: E402
from latentmapper.models import DITDecoder, fit_latent  # noqa: E402


def load_decoder(run: Path, device: torch.device | str | None = None) -> DITDecoder:
    """The DIT decoder of a run folder (``RUN/decoder``) or of the decoder folder itself."""
    run = Path(run)
    folder = run / "decoder" if (run / "decoder" / "config.json").is_file() else run
    decoder = DITDecoder.from_pretrained(folder).eval().requires_grad_(False)
    return decoder.to(device if device is not None else default_device())


def split_sdf_samples(dataset_dir: Path, split: str, limit: int | None = None) -> tuple[list[str], list[np.ndarray]]:
    """Shape ids and (N, 4) SDF samples of a split (the first ``limit`` shapes)."""
    from datasets import load_from_disk

    rows = load_from_disk(str(dataset_dir))[split].select_columns(["shape_id", "sdf_samples"])
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    rows = rows.with_format("numpy")
    ids = [str(s) for s in rows["shape_id"]]
    return ids, [np.asarray(s, dtype=np.float32).reshape(-1, 4) for s in rows["sdf_samples"]]


def fit_split_latents(
    decoder: DITDecoder,
    shape_ids: list[str],
    sdf_samples: list[np.ndarray],
    output: Path,
    *,
    steps: int = 500,
    samples: int = 8000,
    batch_shapes: int = 16,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Codes for every shape, batch by batch with a cache beside ``output``; writes ``output``."""
    output = Path(output)
    if output.is_file():
        done = load_file(str(output))
        if all(sid in done for sid in shape_ids):
            return {sid: done[sid] for sid in shape_ids}
    partial = output.with_name(output.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    settings = {"steps": steps, "samples": samples, "batch_shapes": batch_shapes, "seed": seed}
    info = partial / "settings.json"
    if info.is_file() and json.loads(info.read_text()) != settings:
        raise SystemExit(f"{partial} was fitted with other settings; remove it or keep {json.loads(info.read_text())}")
    info.write_text(json.dumps(settings))
    latents: dict[str, torch.Tensor] = {}
    for start in tqdm(range(0, len(shape_ids), batch_shapes), desc=f"fitting latents -> {output.name}", unit="batch"):
        ids = shape_ids[start : start + batch_shapes]
        chunk = partial / f"{start:06d}.safetensors"
        if chunk.is_file() and set(load_file(str(chunk))) == set(ids):
            latents.update(load_file(str(chunk)))
            continue
        codes = fit_latent(decoder, [torch.from_numpy(s) for s in sdf_samples[start : start + batch_shapes]],
                           num_steps=steps, num_samples=samples, seed=seed + start).cpu()
        fitted = {sid: codes[i].contiguous() for i, sid in enumerate(ids)}
        with atomic_path(chunk) as tmp:
            save_file(fitted, str(tmp))
        latents.update(fitted)
    with atomic_path(output) as tmp:
        save_file(latents, str(tmp), metadata={"steps": str(steps), "samples": str(samples)})
    shutil.rmtree(partial, ignore_errors=True)
    return latents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dit", required=True, type=Path, help="DIT run folder (decoder/) or decoder folder")
    parser.add_argument("--dataset", required=True, type=Path)
    parser.add_argument("--split", default="validation", choices=("train", "validation", "test"))
    parser.add_argument("--output", required=True, type=Path, help="a .safetensors file")
    parser.add_argument("--steps", type=int, default=500, help="Adam steps per code (the paper: 500)")
    parser.add_argument("--samples", type=int, default=8000, help="SDF samples per step")
    parser.add_argument("--batch-shapes", type=int, default=16, help="shapes fitted together")
    parser.add_argument("--limit", type=int, default=None, help="only the first N shapes of the split")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    decoder = load_decoder(args.dit)
    ids, samples = split_sdf_samples(args.dataset, args.split, args.limit)
    fit_split_latents(decoder, ids, samples, args.output, steps=args.steps, samples=args.samples,
                      batch_shapes=args.batch_shapes, seed=args.seed)
    print(f"{len(ids)} {args.split} codes -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
