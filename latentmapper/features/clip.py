"""CLIP embeddings from any transformers CLIP checkpoint, named by hub id or local path.

The mapper's CLIP input is the projected image embedding, L2-normalised (512 values for
``openai/clip-vit-base-patch32`` and for the small CLIP that ``train/train_encoders.py``
trains offline). Text embeddings of the prompt templates (mean of the normalised template
embeddings, renormalised: CLIP's zero-shot recipe) serve filtering and sanity checks.
The text tower is loaded only when a text method is first called.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoTokenizer,
    CLIPTextModelWithProjection,
    CLIPVisionModelWithProjection,
)

from ..image_io import ImageBatch, load_images
from .prompt_templates import PROMPT_TEMPLATES, fill_templates


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def tower_config(name_or_path: str, tower: str):
    """The vision or text sub-config of a full CLIP checkpoint, with the projection size of the whole.

    ``CLIPVisionConfig`` has its own ``projection_dim`` (default 512), which a full checkpoint
    need not repeat in its sub-configs; the projection weights follow the top-level one.
    """
    config = AutoConfig.from_pretrained(name_or_path)
    if config.model_type != "clip":
        return config  # a stand-alone tower checkpoint
    sub = getattr(config, f"{tower}_config")
    sub.projection_dim = config.projection_dim
    return sub


def load_clip_vision(name_or_path: str, dtype: torch.dtype | None = None) -> CLIPVisionModelWithProjection:
    """The vision tower and projection of a full CLIP checkpoint or of a stand-alone vision one.

    Refuses a checkpoint that lacks any of the tower's weights (they would be random).
    """
    kwargs = {"dtype": dtype} if dtype is not None else {}
    config = tower_config(name_or_path, "vision")
    vision, info = CLIPVisionModelWithProjection.from_pretrained(
        name_or_path, config=config, output_loading_info=True, **kwargs)
    if info.get("missing_keys"):
        raise ValueError(f"{name_or_path} lacks {len(info['missing_keys'])} weights of the CLIP vision tower "
                         f"(e.g. {sorted(info['missing_keys'])[:3]})")
    return vision


class ClipEmbedder:
    """CLIP image (and text) towers with their processor/tokenizer, inference only."""

    def __init__(
        self,
        vision_model: CLIPVisionModelWithProjection,
        image_processor,
        *,
        name_or_path: str | None = None,
        text_model: CLIPTextModelWithProjection | None = None,
        tokenizer=None,
    ) -> None:
        self.vision_model = vision_model.eval().requires_grad_(False)
        self.image_processor = image_processor
        self.name_or_path = name_or_path
        self.text_model = text_model.eval().requires_grad_(False) if text_model is not None else None
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        load_text: bool = False,
    ) -> "ClipEmbedder":
        """Load the vision tower and image processor (and, with ``load_text``, the text side)."""
        device = torch.device(device) if device is not None else default_device()
        vision = load_clip_vision(name_or_path, dtype=dtype).to(device)
        processor = AutoImageProcessor.from_pretrained(name_or_path)
        embedder = cls(vision, processor, name_or_path=str(name_or_path))
        if load_text:
            embedder._load_text()
        return embedder

    @property
    def device(self) -> torch.device:
        return next(self.vision_model.parameters()).device

    @property
    def embedding_dim(self) -> int:
        return int(self.vision_model.config.projection_dim)

    def preprocess(self, images: ImageBatch) -> torch.Tensor:
        """Pixel values as the checkpoint expects them (resize, crop, normalise)."""
        return self.image_processor(load_images(images), return_tensors="pt")["pixel_values"]

    @torch.inference_mode()
    def embed_pixel_values(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) preprocessed pixels -> (B, D) unit-norm float32 embeddings."""
        dtype = next(self.vision_model.parameters()).dtype
        out = self.vision_model(pixel_values=pixel_values.to(self.device, dtype))
        return F.normalize(out.image_embeds.float(), dim=-1)

    def embed_images(self, images: ImageBatch, batch_size: int = 64) -> torch.Tensor:
        """Images (see ``latentmapper.image_io``) -> (B, D) unit-norm float32 embeddings, on the model's device."""
        images = load_images(images)
        chunks = [
            self.embed_pixel_values(self.preprocess(images[i : i + batch_size]))
            for i in range(0, len(images), batch_size)
        ]
        return torch.cat(chunks)

    # ---- text -------------------------------------------------------------------------
    def _load_text(self) -> None:
        if self.text_model is not None:
            return
        if self.name_or_path is None:
            raise ValueError("this embedder was built without a checkpoint name; pass text_model and tokenizer")
        dtype = next(self.vision_model.parameters()).dtype
        config = tower_config(self.name_or_path, "text")
        text = CLIPTextModelWithProjection.from_pretrained(self.name_or_path, config=config, dtype=dtype)
        self.text_model = text.to(self.device).eval().requires_grad_(False)
        self.tokenizer = AutoTokenizer.from_pretrained(self.name_or_path)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """Texts -> (B, D) unit-norm float32 embeddings, on the model's device."""
        self._load_text()
        if isinstance(texts, str):
            texts = [texts]
        max_length = int(self.text_model.config.max_position_embeddings)
        chunks = []
        for i in range(0, len(texts), batch_size):
            tokens = self.tokenizer(
                list(texts[i : i + batch_size]), padding=True, truncation=True,
                max_length=max_length, return_tensors="pt",
            ).to(self.device)
            out = self.text_model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
            chunks.append(F.normalize(out.text_embeds.float(), dim=-1))
        return torch.cat(chunks)

    def embed_prompt_templates(self, text: str, templates: Sequence[str] = PROMPT_TEMPLATES) -> torch.Tensor:
        """(D,) unit-norm embedding of ``text`` averaged over the prompt templates."""
        mean = self.embed_texts(fill_templates(text, tuple(templates))).mean(dim=0)
        return F.normalize(mean, dim=-1)


__all__ = ["ClipEmbedder", "default_device", "load_clip_vision", "tower_config"]
