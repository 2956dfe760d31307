"""Fit DIT codes to the shapes of one split (validation or test) with the frozen decoder.

    python train/fit_split_latents.py --dit runs/dit --dataset data/car --split validation
        --output runs/dit/validation_latents.safetensors [--steps 500] [--samples 8000] [--limit N]

The DIT run holds codes for its training shapes only. The mapper's early stopping needs
codes for the validation shapes (``train/train_mapper.py --val-latents``) and the evaluation's
oracle needs them for the test shapes; both are found as the paper encodes shapes: a fixed
number of Adam steps on the code alone (``latentmapper.models.fit_latent``). Shapes are
fitted a batch at a time and each batch is cached (``OUTPUT.partial/``), so an interrupted
run resumes; the result is one safetensors file, shape_id -> code, like ``latents.safetensors``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from latentmapper.training.split_latents import fit_split_latents, load_decoder, split_sdf_samples


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

