"""Features: key hooks on tiny ViT / ViTMAE / DINOv2 / CLIP models, CLIP embeddings, codebook, bag vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentmapper.features import (ClipEmbedder, KeyCodebook, ViTKeyExtractor, bag_length, bag_of_descriptors,
                                   capture_keys, fit_codebook, soft_bag_of_descriptors)
from latentmapper.features.codebook import fit_kmeans, subsample_descriptors


IMAGE, PATCH, HIDDEN, LAYERS = 32, 8, 32, 3
TINY = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=2, intermediate_size=64,
            image_size=IMAGE, patch_size=PATCH)


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)) for _ in range(n)]


def _save_vit(kind: str, folder) -> str:
    from transformers.models.vit import ViTImageProcessorPil

    from transformers import (Dinov2Config, Dinov2Model, ViTConfig, ViTMAEConfig, ViTMAEForPreTraining,
                              ViTModel)

    torch.manual_seed(0)
    if kind == "vit":
        model = ViTModel(ViTConfig(**TINY), add_pooling_layer=False)
    elif kind == "vit_mae":
        model = ViTMAEForPreTraining(ViTMAEConfig(**TINY, decoder_hidden_size=16, decoder_num_hidden_layers=1,
                                                  decoder_num_attention_heads=2, decoder_intermediate_size=32))
    else:
        model = Dinov2Model(Dinov2Config(**{k: v for k, v in TINY.items() if k != "intermediate_size"}))
    path = folder / kind
    model.save_pretrained(path)
    ViTImageProcessorPil(size={"height": IMAGE, "width": IMAGE}).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> str:
    from transformers.models.clip import CLIPImageProcessorPil

    from transformers import CLIPConfig, CLIPModel
    from latentmapper.training.caption_tokenizer import build_caption_tokenizer

    from latentmapper.features import PROMPT_TEMPLATES

    tokenizer = build_caption_tokenizer(["a red car.", "a blue pickup truck with a long bed."] + list(PROMPT_TEMPLATES))
    text = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                max_position_embeddings=32, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=TINY, projection_dim=24))
    path = tmp_path_factory.mktemp("clip") / "clip"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    CLIPImageProcessorPil(size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE}).save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("kind", ["vit", "vit_mae", "dinov2"])
def test_key_hooks_one_tensor_per_layer(kind, tmp_path):
    extractor = ViTKeyExtractor.from_pretrained(_save_vit(kind, tmp_path), device="cpu")
    assert extractor.num_layers == LAYERS and extractor.key_dim == HIDDEN
    assert all(name.endswith("k_proj") and "decoder" not in name for name in extractor.layer_names)

    pixels = extractor.preprocess(_images(2))
    with capture_keys(extractor.model) as capture:
        extractor.model(pixel_values=pixels, **({"noise": torch.arange(16.0).expand(2, -1)} if kind == "vit_mae" else {}))
    tokens = 1 + (IMAGE // PATCH) ** 2  # CLS + patches
    assert len(capture.keys) == LAYERS
    assert all(k.shape == (2, tokens, HIDDEN) for k in capture.keys)

    out = extractor(_images(2))
    assert out.grid == (IMAGE // PATCH, IMAGE // PATCH)
    assert out.keys.shape == (2, LAYERS, (IMAGE // PATCH) ** 2, HIDDEN)  # CLS dropped
    assert torch.equal(out.keys, extractor(_images(2)).keys)  # no random masking or shuffling
    # hooks are removed after the forward
    assert all(len(m._forward_hooks) == 0 for m in extractor.model.modules())


def test_vitmae_keys_match_the_converted_vit(tmp_path):
    """The MAE encoder saved as a plain ViTModel gives the same keys, in the same patch order."""
    from transformers import ViTMAEForPreTraining
    from latentmapper.training.encoder_fitting import mae_encoder_as_vit

    path = _save_vit("vit_mae", tmp_path)
    mae_keys = ViTKeyExtractor.from_pretrained(path, device="cpu")
    vit = mae_encoder_as_vit(ViTMAEForPreTraining.from_pretrained(path))
    plain = ViTKeyExtractor(vit, mae_keys.image_processor)
    images = _images(2, seed=3)
    torch.testing.assert_close(mae_keys(images).keys, plain(images).keys, rtol=1e-5, atol=1e-5)


def test_clip_image_and_text_embeddings(tiny_clip):
    clip = ClipEmbedder.from_pretrained(tiny_clip, device="cpu")
    emb = clip.embed_images(_images(3), batch_size=2)
    assert emb.shape == (3, 24) and clip.embedding_dim == 24
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    texts = clip.embed_texts(["a red car.", "a blue zebra"])  # unknown words map to <|unk|>
    assert texts.shape == (2, 24)
    car = clip.embed_prompt_templates("car")
    assert car.shape == (24,) and abs(float(car.norm()) - 1) < 1e-5
    # CLIP keys are found too (vision tower only)
    extractor = ViTKeyExtractor.from_pretrained(tiny_clip, device="cpu")
    assert extractor(_images(1)).keys.shape == (1, LAYERS, 16, HIDDEN)


def test_codebook_roundtrip_matches_sklearn(tmp_path):
    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(6, 16, generator=gen) * 3
    x = (centers[torch.randint(6, (3000,), generator=gen)] + torch.randn(3000, 16, generator=gen)).numpy()
    for normalize in (True, False):
        kmeans = fit_kmeans(x, 6, normalize=normalize, batch_size=512, seed=0)
        codebook = KeyCodebook.from_kmeans(kmeans, num_layers=2, grid_size=2, normalize=normalize)
        codebook.save_pretrained(tmp_path / f"cb{normalize}")
        assert (tmp_path / f"cb{normalize}" / "diffusion_pytorch_model.safetensors").is_file()
        assert not list((tmp_path / f"cb{normalize}").glob("*.bin"))
        loaded = KeyCodebook.from_pretrained(tmp_path / f"cb{normalize}")
        torch.testing.assert_close(loaded.centroids, torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32))
        xs = x / np.linalg.norm(x, axis=1, keepdims=True) if normalize else x
        expected = kmeans.predict(xs.astype(np.float32))
        assert np.array_equal(loaded.assign(torch.as_tensor(x)).numpy(), expected)
    # fit_codebook = fit_kmeans + from_kmeans, and subsampling keeps the asked fraction
    sub = subsample_descriptors(torch.as_tensor(x).reshape(10, 300, 16), 0.2, torch.Generator().manual_seed(1))
    assert sub.shape == (600, 16)
    assert fit_codebook(sub, num_layers=3, num_words=6).centroids.shape == (6, 16)


def test_folder_saved_before_the_codebook_moved_still_loads(tiny_pipeline_dir, tiny_pipeline, tmp_path):
    """Folders written before the codebook moved to ``latentmapper.features`` name it by its old module."""
    import json
    import shutil

    from latentmapper import LatentMapperPipeline

    old = tmp_path / "saved-before-the-move"
    shutil.copytree(tiny_pipeline_dir, old)
    index = json.loads((old / "model_index.json").read_text())
    assert index["codebook"] == ["latentmapper.features.codebook", "KeyCodebook"]  # what a save writes now
    index["codebook"] = ["latentmapper.models.codebook", "KeyCodebook"]
    (old / "model_index.json").write_text(json.dumps(index))
    loaded = LatentMapperPipeline.from_pretrained(old)
    assert isinstance(loaded.codebook, KeyCodebook)
    image = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    assert torch.equal(loaded(image, output_type="latent").latents, tiny_pipeline(image, output_type="latent").latents)


def test_bag_of_descriptors_layout_and_length():
    labels = torch.randint(0, 5, (2, 3, 4, 4), generator=torch.Generator().manual_seed(0))
    bag = bag_of_descriptors(labels, num_words=5, grid_size=2)
    assert bag.shape == (2, bag_length(3, 5, 2)) == (2, 3 * 5 * (1 + 4))
    blocks = bag.reshape(2, 3, 5, 5)  # (B, L, 1 + G*G, K)
    torch.testing.assert_close(blocks.sum(-1), torch.ones(2, 3, 5))
    hist = torch.stack([torch.bincount(labels[0, 1].flatten(), minlength=5) / 16.0])
    torch.testing.assert_close(blocks[0, 1, 0], hist[0])
    cell = labels[0, 2, 2:, :2].flatten()  # bottom-left cell = cell index 2 (row-major)
    torch.testing.assert_close(blocks[0, 2, 3], torch.bincount(cell, minlength=5) / 4.0)
    # the paper-scale example of the docstring
    assert bag_length(12, 20, 4) == 4080
    with pytest.raises(ValueError):
        bag_of_descriptors(labels, num_words=3, grid_size=2)


def test_codebook_bag_from_extracted_keys(tmp_path):
    extractor = ViTKeyExtractor.from_pretrained(_save_vit("vit", tmp_path), device="cpu")
    keys = extractor(_images(4))
    codebook = fit_codebook(subsample_descriptors(keys.keys, 0.5), num_layers=LAYERS, num_words=5, grid_size=2)
    bag = codebook.bag(keys.keys, keys.grid)
    assert bag.shape == (4, codebook.bag_length) == (4, LAYERS * 5 * 5)
    with pytest.raises(ValueError):
        codebook.bag(keys.keys[:, :2], keys.grid)


def test_checkpoint_missing_encoder_weights_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    path = Path(_save_vit("vit", tmp_path))
    weights = load_file(str(path / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if "k_proj" not in k and ".key." not in k}, str(path / "model.safetensors"),
              metadata={"format": "pt"})
    with pytest.raises(ValueError, match="random weights"):
        ViTKeyExtractor.from_pretrained(str(path), device="cpu")


def test_soft_bag_spreads_patches_over_words_and_tends_to_the_hard_bag(tmp_path):
    labels = torch.randint(0, 5, (2, 3, 4, 4), generator=torch.Generator().manual_seed(0))
    one_hot = torch.nn.functional.one_hot(labels, 5).float()
    torch.testing.assert_close(soft_bag_of_descriptors(one_hot, 2), bag_of_descriptors(labels, 5, 2))

    gen = torch.Generator().manual_seed(0)
    keys = torch.randn(2, 2, 16, 8, generator=gen)  # (B, L, 4x4 patches, D)
    hard = fit_codebook(keys.reshape(-1, 8), num_layers=2, num_words=4, grid_size=2)
    hard_bag = hard.bag(keys, (4, 4))

    def with_temperature(t: float) -> KeyCodebook:
        codebook = KeyCodebook(num_words=4, key_dim=8, num_layers=2, grid_size=2, assignment_temperature=t)
        codebook.centroids.copy_(hard.centroids)
        return codebook

    soft = with_temperature(0.5)
    soft_bag = soft.bag(keys, (4, 4))
    assert soft_bag.shape == hard_bag.shape
    torch.testing.assert_close(soft_bag.reshape(2, 2, 5, 4).sum(-1), torch.ones(2, 2, 5))
    assert (soft_bag > 0).all() and not torch.allclose(soft_bag, hard_bag)  # every word gets some weight
    torch.testing.assert_close(with_temperature(1e-4).bag(keys, (4, 4)), hard_bag)  # cold = the paper's counts
    # the temperature is part of the saved component; a config without it loads as hard labels
    soft.save_pretrained(tmp_path / "soft")
    assert KeyCodebook.from_pretrained(tmp_path / "soft").config.assignment_temperature == 0.5
    torch.testing.assert_close(KeyCodebook.from_pretrained(tmp_path / "soft").bag(keys, (4, 4)), soft_bag)
    assert hard.config.assignment_temperature == 0.0
    with pytest.raises(ValueError, match="assignment_temperature"):
        KeyCodebook(num_words=4, key_dim=8, num_layers=2, assignment_temperature=-1.0)
    with pytest.raises(ValueError, match="hard labels"):
        hard.soft_assign(keys)
