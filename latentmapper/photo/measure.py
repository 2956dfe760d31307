"""Measure how the renders frame objects, and save the reference sets ``prepare_photo`` looks up.

    python -m latentmapper.photo fit-framing --dataset data/car data/airplane --out runs/framing

For every category: the silhouettes of the training renders (all 9 views) become a
:class:`FramingReference`; the test renders then measure how far its looked-up scale and centre
are from the true ones, next to one fixed ratio and centre for every view, and each reference is
saved to ``OUT/<category>/`` (safetensors + config.json), a pipeline's ``framing`` component.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from .colour import object_colour_statistics
from .framing import RENDER_CENTER, render_framing, render_mask
from .framing_reference import FramingReference


def split_silhouettes(dataset: str | Path, split: str) -> tuple[str, list, list[np.ndarray]]:
    """(category, renders, their masks) of every view of every shape of one split of a saved DatasetDict."""
    from datasets import load_from_disk

    rows = load_from_disk(str(dataset))[split].select_columns(["category", "images"])
    categories = set(rows["category"])
    if len(categories) != 1:
        raise ValueError(f"{dataset} holds categories {sorted(categories)}; one category per dataset")
    images = [image.convert("RGB") for row in rows for image in row["images"]]
    return categories.pop(), images, [render_mask(image) for image in images]


def framing_errors(reference: FramingReference, train: list[np.ndarray], test: list[np.ndarray]) -> dict[str, float]:
    """Median |log scale error| and median centre error (fraction of the side) on ``test``:
    the reference's lookup vs one ratio (the training mean) and ``RENDER_CENTER`` for every view."""
    truth = np.stack([render_framing(m) for m in test])
    ratio = float(np.mean([render_framing(m)[0] for m in train]))
    looked = [reference.lookup(m) for m in test]
    scale = np.log([side for side, _ in looked])
    centre = np.array([c for _, c in looked])
    return {"scale_lookup": float(np.median(np.abs(scale - truth[:, 0]))),
            "scale_one_ratio": float(np.median(np.abs(ratio - truth[:, 0]))),
            "centre_lookup": float(np.median(np.linalg.norm(centre - truth[:, 1:], axis=1))),
            "centre_fixed": float(np.median(np.linalg.norm(np.asarray(RENDER_CENTER) - truth[:, 1:], axis=1))),
            "one_ratio_value": float(np.exp(ratio))}


def fit_framing(datasets: list[str | Path], out: str | Path) -> dict[str, dict]:
    """Build, measure and save (``out/<category>``) the reference of every dataset's category;
    returns the measurements."""
    report = {}
    for dataset in datasets:
        category, images, train = split_silhouettes(dataset, "train")
        _, _, test = split_silhouettes(dataset, "test")
        colours = object_colour_statistics(images[::7], train[::7])
        reference = FramingReference.from_masks(train, renders=images, colours=colours, category=category)
        with atomic_path(Path(out) / category, is_dir=True) as tmp:
            reference.save_pretrained(tmp)
        report[category] = {"train_renders": len(train), "test_renders": len(test),
                            **framing_errors(reference, train, test), "colour": colours}
    return report


__all__ = ["fit_framing", "framing_errors", "split_silhouettes"]
