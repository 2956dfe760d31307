"""Photo-mode components (framing statistics, matting U-Net, translator) added to a saved pipeline folder.

Each component is saved into ``PIPELINE/<name>/`` (safetensors + config.json) and named in
``model_index.json``; the other components' files are not touched, so adding to a shipped
pipeline does not re-save (and upcast) its weights.
"""

from __future__ import annotations

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
        raise ValueError(f"{pipeline} has no model_index.json; it is not a saved pipeline folder")
    index = json.loads(index_path.read_text())
    category = index.get("category")
    for name, folder in components.items():
        component = COMPONENT_CLASSES[name].from_pretrained(str(folder)).eval()
        if name == "framing" and category and component.config.category != category:
            raise ValueError(f"{folder} holds {component.config.category!r} framing; the pipeline is {category!r}")
        if fp16:
            for param in component.parameters():
                param.data = param.data.half()
        with atomic_path(Path(pipeline) / name, is_dir=True) as tmp:
            component.save_pretrained(tmp)
        index[name] = index_entry(component)
    with atomic_path(index_path) as tmp:
        tmp.write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n")
    return {name: index[name] for name in components}


__all__ = ["COMPONENT_CLASSES", "add_components", "index_entry"]
