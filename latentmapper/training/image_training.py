"""Pieces of the offline encoder training: cached render tensors, augmentation, schedule, tokenizer.

Renders are resized once by the checkpoint's own image processor and kept as uint8, so an
epoch reads memory rather than PNGs; normalisation (the processor's mean and std) and the
paper's augmentation (random zoom in/out and rotation, white fill) happen per batch.

No CLIP tokenizer can be downloaded here, so :func:`build_caption_tokenizer` builds a
word-level one (``tokenizers`` WordLevel over lower-cased words and punctuation) from the
captions and prompt templates and wraps it as a transformers fast tokenizer: saved with
``save_pretrained`` next to the model, ``AutoTokenizer.from_pretrained`` reads it offline.
Ids: 0 pad, 1 unknown, 2 start, 3 end of text (CLIP pools at the end token, which must not
be id 2: transformers treats ``eos_token_id == 2`` as a legacy config and pools at the
largest id instead).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

SPECIAL_TOKENS = ("<|pad|>", "<|unk|>", "<|startoftext|>", "<|endoftext|>")


def build_caption_tokenizer(texts: Iterable[str], max_length: int = 32):
    """A word-level fast tokenizer whose vocabulary is every word and mark in ``texts``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    pre = pre_tokenizers.Whitespace()
    words = set()
    for text in texts:
        words.update(word for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word in sorted(words):
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|unk|>"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", vocab["<|startoftext|>"]), ("<|endoftext|>", vocab["<|endoftext|>"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
        pad_token="<|pad|>", unk_token="<|unk|>", model_max_length=max_length,
    )


def cache_images(split, processor, *, batch_shapes: int = 32, desc: str = "renders") -> torch.Tensor:
    """(S, V, 3, H, W) uint8: every view of every shape, resized/cropped by ``processor``."""
    out = []
    for start in tqdm(range(0, len(split), batch_shapes), desc=desc, unit="chunk"):
        rows = split.select(range(start, min(start + batch_shapes, len(split))))["images"]
        flat = [image.convert("RGB") for views in rows for image in views]
        pixels = processor(flat, do_rescale=False, do_normalize=False, return_tensors="pt")["pixel_values"]
        out.append(pixels.round().clamp(0, 255).to(torch.uint8).reshape(len(rows), len(rows[0]), *pixels.shape[1:]))
    return torch.cat(out)


def normalize_pixels(x: torch.Tensor, processor) -> torch.Tensor:
    """[0, 1] images -> the processor's normalisation."""
    mean = torch.tensor(processor.image_mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(processor.image_std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


def random_affine(
    x: torch.Tensor, generator: torch.Generator, *, zoom: Sequence[float] = (1.0, 1.0),
    rotation_deg: float = 0.0, flip: bool = False, fill: float = 1.0,
) -> torch.Tensor:
    """Random zoom (scale factor in ``zoom``), rotation and optional mirror of [0, 1] images, white fill."""
    batch = x.shape[0]
    rand = torch.rand(batch, 3, generator=generator).to(x.device)
    scale = zoom[0] + (zoom[1] - zoom[0]) * rand[:, 0]
    angle = (rand[:, 1] * 2 - 1) * math.radians(rotation_deg)
    mirror = torch.where(rand[:, 2] < 0.5, -1.0, 1.0) if flip else torch.ones(batch, device=x.device)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos * mirror, -sin, zero], -1), torch.stack([sin * mirror, cos, zero], -1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


def learning_rate(step: int, total: int, base: float, warmup: int, final_fraction: float = 0.1) -> float:
    """Linear warm-up, then cosine decay to ``final_fraction * base``; a function of the step alone."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


__all__ = ["build_caption_tokenizer", "cache_images", "learning_rate", "normalize_pixels", "random_affine"]
