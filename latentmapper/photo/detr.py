"""Background removal with a panoptic segmentation model from ``transformers`` (DETR, as the paper).

    remover = DetrPanopticRemover.from_pretrained("facebook/detr-resnet-50-panoptic", category="car")
    alpha = remover(image)            # (H, W) float32 in [0, 1]

Any ``DetrForSegmentation`` checkpoint (hub id or local folder) works. The object is the
panoptic segment whose label names the category (for a car also "truck" and "bus", which COCO
splits off), the largest such; when no label matches, the segment that is large and central.
When the model finds no segment at all the ``fallback`` (the classical matting) is used, so a
photo always gets a matte. The facebook checkpoints use a ``timm`` ResNet backbone:
``pip install timm`` first, or pass ``revision="no_timm"`` where the repository has one.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

DEFAULT_DETR = "facebook/detr-resnet-50-panoptic"

# COCO panoptic label names that count as the category (lower case).
CATEGORY_LABELS: dict[str, tuple[str, ...]] = {
    "car": ("car", "truck", "bus"),
    "airplane": ("airplane", "aeroplane"),
}


def choose_segment(
    segmentation: np.ndarray, segments: list[dict], id2label: dict, category: str | None = None,
) -> int | None:
    """The id of the segment that shows the object, or None when there are no segments.

    ``segments`` are the ``segments_info`` of ``post_process_panoptic_segmentation`` (``id``,
    ``label_id``, ``score``). Among the segments labelled as ``category``, the largest; else the
    one with the largest area weighted by closeness to the image centre, touching the border least.
    """
    if not segments:
        return None
    h, w = segmentation.shape
    ys, xs = np.mgrid[0:h, 0:w]
    centrality = 1.0 - np.sqrt(((xs - w / 2) / (w / 2)) ** 2 + ((ys - h / 2) / (h / 2)) ** 2) / np.sqrt(2)
    border = np.zeros_like(segmentation, dtype=bool)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    names = CATEGORY_LABELS.get(category or "", (category,) if category else ())
    labelled = [s for s in segments if str(id2label.get(s["label_id"], "")).lower() in names]
    best, best_value = None, -np.inf
    for segment in labelled or segments:
        region = segmentation == segment["id"]
        area = float(region.sum())
        if labelled:
            value = area
        else:
            value = float(centrality[region].sum()) * (1.0 - float(region[border].mean()))
        if area > 0 and value > best_value:
            best, best_value = segment["id"], value
    return best


class DetrPanopticRemover:
    """``remover(image) -> (H, W) float32 alpha``: the chosen DETR panoptic segment, edges softened."""

    def __init__(self, model, processor, category: str | None = None, threshold: float = 0.85, fallback=None) -> None:
        self.model = model.eval().requires_grad_(False)
        self.processor = processor
        self.category, self.threshold = category, threshold
        self.fallback = fallback

    @classmethod
    def from_pretrained(
        cls, name_or_path: str = DEFAULT_DETR, *, category: str | None = None, threshold: float = 0.85,
        device: str | torch.device | None = None, fallback=None, **kwargs,
    ) -> "DetrPanopticRemover":
        """Load a ``DetrForSegmentation`` and its image processor (``kwargs``: revision, cache_dir, token...)."""
        from transformers import AutoImageProcessor, DetrForSegmentation

        try:
            model = DetrForSegmentation.from_pretrained(name_or_path, **kwargs)
            processor = AutoImageProcessor.from_pretrained(name_or_path, **kwargs)
        except Exception as err:
            raise OSError(f"cannot load the DETR panoptic model {name_or_path!r}: {type(err).__name__}: {err}. "
                          "Offline, use the classical matting (remover=None).") from err
        if device is not None:
            model = model.to(device)
        if fallback is None:
            from .matting import ClassicalMatting

            fallback = ClassicalMatting()
        return cls(model, processor, category=category, threshold=threshold, fallback=fallback)

    @torch.no_grad()
    def __call__(self, image: Image.Image) -> np.ndarray:
        image = image.convert("RGB")
        inputs = self.processor(images=image, return_tensors="pt").to(self.model.device)
        outputs = self.model(**inputs)
        result = self.processor.post_process_panoptic_segmentation(
            outputs, threshold=self.threshold, target_sizes=[(image.height, image.width)])[0]
        segmentation = result["segmentation"].cpu().numpy()
        chosen = choose_segment(segmentation, result["segments_info"], self.model.config.id2label, self.category)
        if chosen is None:
            if self.fallback is None:
                raise ValueError("the segmentation model found no object in the image")
            return self.fallback(image)
        return (segmentation == chosen).astype(np.float32)


__all__ = ["CATEGORY_LABELS", "DEFAULT_DETR", "DetrPanopticRemover", "choose_segment"]
