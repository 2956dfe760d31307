"""Dataset card (README.md) from the package's template (``templates/dataset_card.md``), written beside a dataset."""

from __future__ import annotations

from pathlib import Path

from datasets import DatasetDict
from huggingface_hub import DatasetCard, DatasetCardData

from ..templates import template_path


def render_dataset_card(dataset: DatasetDict, info: dict) -> DatasetCard:
    category = info.get("category", "")
    source = "shapenet" if "synset" in info else "procedural"
    data = DatasetCardData(
        license="apache-2.0",
        task_categories=["image-to-3d"],
        tags=["3d", "sdf", source, "latentmapper", category],
        pretty_name=f"LatentMapper {category} shapes",
    )
    command = info.get("command") or (
        f"python -m latentmapper.data build --category {category} --num-shapes {info.get('num_shapes', '?')} "
        f"--seed {info.get('seed', 0)} --out DIR"
        if source == "procedural"
        else f"python -m latentmapper.data import-shapenet SHAPENET_DIR --synset {info.get('synset')} --out DIR"
    )
    return DatasetCard.from_template(
        data,
        template_path=str(template_path("dataset_card.md")),
        category=category,
        subtypes=", ".join(sorted({t for split in dataset.values() for t in split["subtype"] if t})),
        source=source,
        command=command,
        split_table="\n".join(f"| {name} | {len(split)} |" for name, split in dataset.items()),
    )


def write_dataset_card(folder: Path, dataset: DatasetDict, info: dict) -> None:
    render_dataset_card(dataset, info).save(str(Path(folder) / "README.md"))
