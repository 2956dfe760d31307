"""Add photo-mode components (framing statistics, matting U-Net, translator) to a saved pipeline folder.

    python train/add_photo_components.py --pipeline checkpoints/latentmapper-car \\
        --framing runs/framing/car --translator runs/cyclegan/translator --fp16

Each given component is saved into ``PIPELINE/<name>/`` (safetensors + config.json) and named in
``model_index.json``; the other components' files are not touched, so adding to a shipped
pipeline does not re-save (and upcast) its weights. ``--fp16`` stores the added parameters in
float16 (the framing statistics are float16 buffers already); loading upcasts to float32.
``--framing``: ``python -m latentmapper.photo fit-framing`` output (``OUT/<category>``);
``--matting``: ``train/train_matting.py``'s ``OUTPUT/matting``; ``--translator``:
``train/train_cyclegan.py``'s ``OUTPUT/translator``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from latentmapper.training.photo_components import COMPONENT_CLASSES, add_components


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", required=True, type=Path, help="saved pipeline folder to add to")
    for name in COMPONENT_CLASSES:
        parser.add_argument(f"--{name}", type=Path, default=None, help=f"the {name} component's folder")
    parser.add_argument("--fp16", action="store_true", help="store the added parameters as float16")
    args = parser.parse_args(argv)
    components = {name: getattr(args, name) for name in COMPONENT_CLASSES if getattr(args, name) is not None}
    if not components:
        parser.error(f"give at least one of {', '.join('--' + n for n in COMPONENT_CLASSES)}")
    try:
        added = add_components(args.pipeline, components, args.fp16)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    for name, entry in added.items():
        size = sum(p.stat().st_size for p in (args.pipeline / name).glob("*.safetensors"))
        print(f"{args.pipeline}: {name} = {entry[1]} ({size / 1e6:.2f} MB)")
    return 0
