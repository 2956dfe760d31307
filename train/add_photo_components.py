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
import json
from pathlib import Path

import torch
from diffusers import UNet2DModel

from latentmapper.atomic import atomic_path
from latentmapper.models.cyclegan import ResnetGenerator
from latentmapper.photo import FramingReference

COMPONENT_CLASSES = {"framing": FramingReference, "matting": UNet2DModel, "translator": ResnetGenerator}


def index_entry(component: torch.nn.Module) -> list[str]:
    """``[library, class]`` as diffusers writes it: "diffusers" for its own classes, else the class's module."""
    module = type(component).__module__
    return ["diffusers" if module.split(".")[0] == "diffusers" else module, type(component).__name__]


@torch.no_grad()
def add_components(pipeline: Path, components: dict[str, Path], fp16: bool = False) -> dict[str, list[str]]:
    """Save each ``{name: folder}`` component into ``pipeline/name`` and record it in ``model_index.json``."""
    index_path = Path(pipeline) / "model_index.json"
    if not index_path.is_file():
        raise SystemExit(f"{pipeline} has no model_index.json; it is not a saved pipeline folder")
    index = json.loads(index_path.read_text())
    category = index.get("category")
    for name, folder in components.items():
        component = COMPONENT_CLASSES[name].from_pretrained(str(folder)).eval()
        if name == "framing" and category and component.config.category != category:
            raise SystemExit(f"{folder} holds {component.config.category!r} framing; the pipeline is {category!r}")
        if fp16:
            for param in component.parameters():
                param.data = param.data.half()
        with atomic_path(Path(pipeline) / name, is_dir=True) as tmp:
            component.save_pretrained(tmp)
        index[name] = index_entry(component)
    with atomic_path(index_path) as tmp:
        tmp.write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n")
    return {name: index[name] for name in components}


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
    for name, entry in add_components(args.pipeline, components, args.fp16).items():
        size = sum(p.stat().st_size for p in (args.pipeline / name).glob("*.safetensors"))
        print(f"{args.pipeline}: {name} = {entry[1]} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
