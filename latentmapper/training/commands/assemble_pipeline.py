"""Assemble a LatentMapperPipeline from the training-run folders and save it (the shipped form).

    python train/assemble_pipeline.py --encoders runs/car/encoders --features runs/car/features \\
        --autoencoder runs/car/autoencoder --mapper runs/car/mapper --dit runs/car/dit \\
        --output checkpoints/latentmapper-car [--fp16] [--category car] [--evaluation runs/car/eval/evaluation.md] \\
        [--results hub_cards/results/car.json]

Each option takes a stage's output folder (or the component folder inside it): ``--encoders``
holds ``clip/`` (a full CLIP checkpoint: only its vision tower and projection are kept) and
``vit/``; ``--features`` holds ``codebook/``; ``--autoencoder``, ``--mapper`` and ``--dit``
hold ``autoencoder/``, ``mapper/`` and ``decoder/``. Processors come from the encoder folders.

``--fp16`` stores the parameters in float16, halving the download; buffers (the codebook's
centroids, the mapper's normalisation statistics) stay float32, so word assignments are
exactly those of training. Loading upcasts to float32 by default. The output folder is
written atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import transformers

from latentmapper.atomic import atomic_path
from latentmapper.evaluation.results import load_json
from latentmapper.training.assembly import assemble, halve_parameters, infer_category


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoders", required=True, type=Path, help="train_encoders.py output (clip/ and vit/)")
    parser.add_argument("--features", required=True, type=Path, help="precompute_features.py output (codebook/)")
    parser.add_argument("--autoencoder", required=True, type=Path, help="train_autoencoder.py output")
    parser.add_argument("--mapper", required=True, type=Path, help="train_mapper.py output")
    parser.add_argument("--dit", required=True, type=Path, help="train_dit.py output (decoder/)")
    parser.add_argument("--output", required=True, type=Path, help="pipeline folder to write")
    parser.add_argument("--fp16", action="store_true", help="store parameters as float16 (loading upcasts)")
    parser.add_argument("--category", default=None, help="default: the dataset's category, via the features folder")
    parser.add_argument("--evaluation", type=Path, default=None,
                        help="markdown table for the model card (e.g. evaluate_mapper.py's evaluation.md)")
    parser.add_argument("--results", type=Path, default=None,
                        help="results JSON whose dit_fit (benchmarks/benchmark.py --results) fills the card's DIT fit")
    args = parser.parse_args(argv)

    category = args.category or infer_category(args.features)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # CLIP's text tower is left out on purpose: no load report
    try:
        pipe = assemble(args.encoders, args.features, args.autoencoder, args.mapper, args.dit, category)
    finally:
        transformers.logging.set_verbosity(verbosity)
    if args.fp16:
        halve_parameters(pipe)
    card = {"evaluation": args.evaluation.read_text() if args.evaluation else None,
            "results": load_json(args.results, "results") if args.results else None}
    with atomic_path(args.output, is_dir=True) as tmp:
        pipe.save_pretrained(tmp, model_card=card)
    size = sum(p.stat().st_size for p in args.output.rglob("*.safetensors"))
    print(f"saved the {category} pipeline to {args.output} ({size / 1e6:.1f} MB of weights"
          f"{', float16' if args.fp16 else ''})")
    return 0
