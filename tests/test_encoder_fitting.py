"""The small CLIP's optional multi-view term: its colour-scrambled partner views and its validation measure."""

import numpy as np
import torch
from datasets import Dataset, Features, Image, Sequence, Value
from PIL import Image as PILImage

from latentmapper.training.devices import make_accelerator
from latentmapper.training.encoder_fitting import partner_views, same_shape_top1, scramble_colours, train_clip


def test_scrambled_colours_keep_each_pixels_values_or_turn_grey():
    gen = torch.Generator().manual_seed(0)
    pixels = torch.rand(6, 3, 5, 5, generator=gen)
    shuffled = scramble_colours(pixels, torch.Generator().manual_seed(1), grey_probability=0.0)
    # a permutation of the channels: every pixel keeps its three values, and some image changes order
    torch.testing.assert_close(shuffled.sort(dim=1).values, pixels.sort(dim=1).values)
    assert not torch.equal(shuffled, pixels)
    grey = scramble_colours(pixels, torch.Generator().manual_seed(1), grey_probability=1.0)
    torch.testing.assert_close(grey, pixels.mean(dim=1, keepdim=True).expand_as(pixels))


def test_partner_views_are_other_views_of_the_same_shape():
    view = torch.arange(9).repeat(50)
    partner = partner_views(view, 9, torch.Generator().manual_seed(0))
    assert bool((partner != view).all()) and int(partner.min()) >= 0 and int(partner.max()) <= 8
    assert len(set(partner[view == 0].tolist())) == 8  # every other view can be drawn


def test_same_shape_top1_separates_clustered_from_shuffled_embeddings():
    gen = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(10, 16, generator=gen), dim=-1)
    clustered = torch.nn.functional.normalize(centres.repeat_interleave(3, 0) + 0.05 * torch.randn(30, 16, generator=gen), dim=-1)
    assert same_shape_top1(clustered, 3) == 1.0
    shuffled = clustered[torch.randperm(30, generator=gen)]
    assert same_shape_top1(shuffled, 3) < 0.5


def _tiny_split(num_shapes: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = {"shape_id": [], "caption": [], "images": []}
    for s in range(num_shapes):
        colour = rng.integers(0, 255, 3)
        views = []
        for v in range(3):
            image = np.full((16, 16, 3), 255, np.uint8)
            size = 3 + (s + v) % 8
            image[8 - size // 2 : 8 + size // 2 + 1, 2 : 2 + size + s % 5] = colour
            views.append(PILImage.fromarray(image))
        rows["shape_id"].append(f"toy-{seed}-{s}")
        rows["caption"].append(["a red car", "a blue car"][s % 2])
        rows["images"].append(views)
    features = Features({"shape_id": Value("string"), "caption": Value("string"), "images": Sequence(Image())})
    return Dataset.from_dict(rows, features=features)


def test_clip_trains_with_the_multi_view_term_and_reports_same_shape_top1(tmp_path):
    config = {
        "device": "cpu", "num_threads": 1, "seed": 0, "checkpoint_every_steps": 0,
        "clip": {
            "vision_config": {"image_size": 16, "patch_size": 8, "hidden_size": 16, "num_hidden_layers": 1,
                              "num_attention_heads": 2, "intermediate_size": 32},
            "text_config": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                            "intermediate_size": 32, "max_position_embeddings": 16},
            "projection_dim": 8,
            "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3, "warmup_steps": 0, "augment": {},
                      "view_contrast": {"weight": 1.0, "temperature": 0.1, "grey_prob": 0.5}},
        },
    }
    dataset = {"train": _tiny_split(8, 0), "validation": _tiny_split(4, 1)}
    history = train_clip(dataset, config, make_accelerator(config), tmp_path, resume=False, overwrite=False)
    assert len(history) == 1 and 0.0 <= history[0]["val_view_top1"] <= 1.0
    assert np.isfinite(history[0]["train_loss"])
    assert (tmp_path / "clip" / "config.json").is_file()
