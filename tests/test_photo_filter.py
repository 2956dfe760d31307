"""CLIP-template filtering of photo collections (paper Eq. 1-2) and the ``filter-photos`` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from latentmapper.features.prompt_templates import PROMPT_TEMPLATES
from latentmapper.cli.data import main
from latentmapper.data.photo_filter import rejected_path, template_distances, threshold_distances


class DirectionEmbedder:
    """A stand-in CLIP: texts mentioning "car" embed along e0, others along e1; an image embeds
    along e0 by its red share and along e1 by its blue share (so red images are "cars")."""

    def __init__(self) -> None:
        self.texts_seen: list[str] = []

    def embed_texts(self, texts, batch_size=256):
        self.texts_seen += list(texts)
        rows = [[1.0, 0.1, 0.0] if "car" in t else [0.0, 1.0, 0.0] for t in texts]
        return F.normalize(torch.tensor(rows), dim=-1)

    def embed_images(self, images, batch_size=64):
        rows = []
        for image in images:
            pixels = np.asarray(image, np.float32) / 255.0
            rows.append([pixels[..., 0].mean(), pixels[..., 2].mean(), 0.05])
        return F.normalize(torch.tensor(rows), dim=-1)


def _images(rng: np.random.Generator, reds: int, blues: int) -> list[Image.Image]:
    out = []
    for i in range(reds + blues):
        color = np.array([200, 40, 30]) if i < reds else np.array([30, 40, 200])
        pixels = np.clip(color + rng.normal(0, 12, (24, 24, 3)), 0, 255).astype(np.uint8)
        out.append(Image.fromarray(pixels))
    return out


def test_threshold_is_mean_plus_two_std():
    distances = np.array([0.30, 0.31, 0.29, 0.30, 0.32, 0.28, 0.30, 0.31, 0.29, 0.30, 0.90])
    result = threshold_distances(distances)
    assert result.threshold == pytest.approx(distances.mean() + 2 * distances.std())
    assert result.keep.tolist() == [True] * 10 + [False]
    assert threshold_distances(distances, num_std=5.0).keep.all()


def test_filter_keeps_the_category_and_drops_the_outlier():
    embedder = DirectionEmbedder()
    images = _images(np.random.default_rng(0), reds=12, blues=1)
    distances = template_distances(embedder, images, "car")
    assert len(embedder.texts_seen) == len(PROMPT_TEMPLATES) == 74
    assert all("car" in t for t in embedder.texts_seen)
    result = threshold_distances(distances)
    assert result.keep[:12].all() and not result.keep[12]
    with pytest.raises(ValueError, match="no images"):
        template_distances(embedder, [], "car")


def _tiny_clip(folder: Path, vision_only: bool = False) -> Path:
    """A tiny full CLIP with a word-level tokenizer, saved as train_encoders.py saves its CLIP."""
    from latentmapper.training.caption_tokenizer import build_caption_tokenizer
    from transformers import CLIPConfig, CLIPModel, CLIPVisionModelWithProjection
    from transformers.models.clip import CLIPImageProcessorPil

    tokenizer = build_caption_tokenizer(list(PROMPT_TEMPLATES) + ["car"], max_length=16)
    text = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                vocab_size=len(tokenizer), max_position_embeddings=16, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    vision = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=16,
                  patch_size=8)
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8))
    if vision_only:
        tower = CLIPVisionModelWithProjection(model.config.vision_config)
        tower.save_pretrained(folder)
    else:
        model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}).save_pretrained(folder)
    return folder


def test_filter_photos_command_writes_kept_and_rejected_lists(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, image in enumerate(_images(np.random.default_rng(1), reds=6, blues=2)):
        image.save(photos / f"{i:02d}.png")
    (photos / "broken.jpg").write_bytes(b"not an image")
    clip = _tiny_clip(tmp_path / "clip")
    out = tmp_path / "kept.tsv"
    assert main(["filter-photos", str(photos), "--category", "car", "--out", str(out), "--clip", str(clip)]) == 0
    kept = [line.split("\t") for line in out.read_text().splitlines()]
    rejected = [line.split("\t") for line in rejected_path(out).read_text().splitlines()]
    assert rejected_path(out).name == "kept.rejected.tsv"
    assert len(kept) + len(rejected) == 9 and len(kept) >= 6  # at most mean + 2 std of 8 drops one or two
    assert ["unreadable", str(photos / "broken.jpg")] in rejected
    distances = [float(d) for d, _ in kept]
    assert distances == sorted(distances)
    assert all(float(d) > max(distances) for d, _ in rejected if d != "unreadable")
    assert "kept" in capsys.readouterr().out


def test_filter_photos_refuses_a_clip_without_text_tower(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    _images(np.random.default_rng(2), 2, 0)[0].save(photos / "a.png")
    clip = _tiny_clip(tmp_path / "vision", vision_only=True)
    assert main(["filter-photos", str(photos), "--category", "car", "--out", str(tmp_path / "k.tsv"),
                 "--clip", str(clip)]) == 2
    assert "text tower" in capsys.readouterr().err
    assert main(["filter-photos", str(tmp_path / "nowhere"), "--category", "car", "--out", str(tmp_path / "k.tsv"),
                 "--clip", str(clip)]) == 2
