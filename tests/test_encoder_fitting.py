"""The small CLIP's optional terms: the multi-view term (colour-scrambled partner views, its validation measure)
and the shape term (a head reading each shape's within-family parameters off the embedding)."""

import json

import numpy as np
import pytest
import torch
from datasets import Dataset, Features, Image, Sequence, Value
from PIL import Image as PILImage

from latentmapper.training.devices import make_accelerator
from transformers import CLIPModel

from latentmapper.training.encoder_fitting import partner_views, same_shape_top1, scramble_colours, shape_r2, train_clip
from latentmapper.training.shape_targets import masked_mse, within_family_targets


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
    rows = {"shape_id": [], "caption": [], "images": [], "params": [], "category": [], "subtype": []}
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
        rows["params"].append(json.dumps({"size": 3 + s % 8, "width": s % 5, "flag": True}))
        rows["category"].append("toy")
        rows["subtype"].append(["red", "blue"][s % 2])
    features = Features({"shape_id": Value("string"), "caption": Value("string"), "images": Sequence(Image()),
                         "params": Value("string"), "category": Value("string"), "subtype": Value("string")})
    return Dataset.from_dict(rows, features=features)


def _tiny_clip_config(**train_terms) -> dict:
    return {
        "device": "cpu", "num_threads": 1, "seed": 0, "checkpoint_every_steps": 0,
        "clip": {
            "vision_config": {"image_size": 16, "patch_size": 8, "hidden_size": 16, "num_hidden_layers": 1,
                              "num_attention_heads": 2, "intermediate_size": 32},
            "text_config": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                            "intermediate_size": 32, "max_position_embeddings": 16},
            "projection_dim": 8,
            "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3, "warmup_steps": 0, "augment": {}, **train_terms},
        },
    }


def test_clip_trains_with_the_multi_view_term_and_reports_same_shape_top1(tmp_path):
    config = _tiny_clip_config(view_contrast={"weight": 1.0, "temperature": 0.1, "grey_prob": 0.5})
    dataset = {"train": _tiny_split(8, 0), "validation": _tiny_split(4, 1)}
    history = train_clip(dataset, config, make_accelerator(config), tmp_path, resume=False, overwrite=False)
    assert len(history) == 1 and 0.0 <= history[0]["val_view_top1"] <= 1.0
    assert np.isfinite(history[0]["train_loss"])
    assert (tmp_path / "clip" / "config.json").is_file()


def test_within_family_targets_are_residuals_from_the_family_mean_in_reference_units():
    params = [{"a": 1.0, "b": 5, "on": True}, {"a": 3.0, "b": 5, "on": False}, {"a": 10.0, "b": 5},
              {"a": 14.0, "b": 5}, {"span": 2.0}, {"span": 4.0}, {"a": 100.0, "b": 5}]
    categories = ["car"] * 4 + ["plane"] * 2 + ["car"]
    families = ["sedan", "sedan", "van", "van", "glider", "glider", "van"]
    reference = [True] * 6 + [False]
    targets, mask, columns = within_family_targets(params, categories, families, reference=reference)
    assert columns == ["car/a", "plane/span"]  # "b" is the same for every car, flags are not numbers
    spread = torch.tensor([-1.0, 1.0, -2.0, 2.0]).std()
    torch.testing.assert_close(targets[:4, 0], torch.tensor([-1.0, 1.0, -2.0, 2.0]) / spread)
    # a non-reference van is measured from the reference vans' mean (12), not its own
    torch.testing.assert_close(targets[6, 0], (100.0 - 12.0) / spread)
    assert mask[:4, 0].all() and not mask[:4, 1].any() and mask[4:6, 1].all() and not mask[4:6, 0].any()
    with pytest.raises(ValueError, match="family 'van'"):
        within_family_targets(params, categories, families, reference=[True, True, False, False, True, True, False])


def test_masked_mse_and_r2_ignore_entries_that_do_not_apply():
    targets = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    mask = torch.tensor([[True, False], [True, False], [False, True], [False, True]])
    wrong_where_masked = targets + torch.tensor([[0.0, 9.0], [0.0, -9.0], [9.0, 0.0], [9.0, 0.0]])
    assert float(masked_mse(wrong_where_masked, targets, mask)) == 0.0
    assert shape_r2(wrong_where_masked, targets, mask) == pytest.approx(1.0)
    assert shape_r2(torch.zeros_like(targets), targets, mask) == pytest.approx(0.0)


def test_clip_trains_with_the_shape_term_and_saves_a_plain_clip(tmp_path):
    config = _tiny_clip_config(shape_regression={"weight": 1.0})
    dataset = {"train": _tiny_split(8, 0), "validation": _tiny_split(4, 1)}
    history = train_clip(dataset, config, make_accelerator(config), tmp_path, resume=False, overwrite=False)
    assert np.isfinite(history[0]["val_shape_r2"]) and np.isfinite(history[0]["train_loss"])
    saved = CLIPModel.from_pretrained(tmp_path / "clip")  # the head is not part of the shipped encoder
    assert not any(name.startswith("head") for name in saved.state_dict())


def test_shape_term_on_a_build_without_parameters_gets_a_clear_error(tmp_path):
    from pathlib import Path

    from datasets import DatasetDict

    from latentmapper.training.commands import train_encoders

    split = _tiny_split(4, 0).remove_columns(["params"])
    DatasetDict({"train": split, "validation": split}).save_to_disk(str(tmp_path / "data"))
    presets = Path(__file__).resolve().parents[1] / "train" / "configs"
    with pytest.raises(SystemExit, match="no \\['params'\\] column"):
        train_encoders.main(["--dataset", str(tmp_path / "data"), "--preset", "cpu", "--only", "clip",
                             "--set", "clip.train.shape_regression.weight=1.0", "--output", str(tmp_path / "out")],
                            presets_dir=presets)
    assert not (tmp_path / "out" / "clip").exists()
