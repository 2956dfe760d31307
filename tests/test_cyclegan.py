"""CycleGAN: the translator contract, save/load as a pipeline component, training steps, resumable script."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from latentmapper.models.cyclegan import ImagePool, PatchDiscriminator, ResnetGenerator, parameter_count


TINY = dict(image_size=32, ngf=4, num_downsamplings=2, num_res_blocks=1, max_channels=16)


def test_generator_keeps_the_shape_and_range_and_says_its_size():
    torch.manual_seed(0)
    generator = ResnetGenerator(**TINY)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = generator(x)
    assert out.sample.shape == x.shape and out.sample.abs().max() <= 1
    assert generator(x, return_dict=False)[0].shape == x.shape
    assert generator.config.image_size == 32
    with pytest.raises(ValueError, match="multiples of 4"):
        generator(torch.zeros(1, 3, 30, 30))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        generator(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="norm"):
        ResnetGenerator(norm="layer")


def test_residual_generator_starts_as_the_identity():
    generator = ResnetGenerator(**TINY, residual_output=True)
    x = torch.rand(2, 3, 32, 32) * 1.8 - 0.9
    assert torch.allclose(generator(x).sample, x, atol=2e-3)


def test_the_shipped_sizes_fit_the_weight_budget():
    for preset in ("cpu", "gpu"):
        config = json.loads((Path(__file__).resolve().parent.parent / "train/configs" / f"cyclegan_{preset}.json").read_text())
        generator = ResnetGenerator(image_size=config["image_size"], **config["generator"])
        assert parameter_count(generator) * 2 / 1e6 <= 0.8, preset  # fp16 megabytes
        assert config["train"]["lambda_cycle"] == 10 and config["train"]["pool_size"] == 50
    assert json.loads((Path(__file__).resolve().parent.parent / "train/configs/cyclegan_gpu.json").read_text())[
        "train"]["batch_size"] == 8


def test_patch_discriminator_scores_patches():
    scores = PatchDiscriminator(ndf=4, num_layers=3)(torch.zeros(2, 3, 64, 64))
    assert scores.shape == (2, 1, 6, 6)


def test_image_pool_mixes_old_and_new_fakes():
    pool = ImagePool(size=4, seed=0)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling up: returned as given
    later = torch.arange(10.0, 50.0).view(40, 1, 1, 1)
    out = pool.query(later)
    assert out.shape == later.shape
    assert (out < 10).any() and (out >= 10).any()  # some swapped for stored ones
    restored = ImagePool(size=4)
    restored.load_state_tensor(pool.state_tensor())
    assert torch.equal(restored.state_tensor(), pool.state_tensor())
    assert torch.equal(ImagePool(size=0).query(later), later)


def test_translator_round_trips_through_save_load_and_a_pipeline(tmp_path):
    from conftest import build_tiny_pipeline
    from latentmapper import LatentMapperPipeline

    torch.manual_seed(0)
    generator = ResnetGenerator(**TINY)
    generator.save_pretrained(tmp_path / "translator")
    loaded = ResnetGenerator.from_pretrained(tmp_path / "translator")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(loaded(x).sample, generator(x).sample)

    pipe = build_tiny_pipeline()
    pipe.translator = loaded
    image = Image.fromarray((np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8))
    translated = pipe.translate([image])[0]
    assert translated.size == image.size
    pipe.save_pretrained(tmp_path / "pipe")
    index = json.loads((tmp_path / "pipe" / "model_index.json").read_text())
    assert index["translator"] == ["latentmapper.models.cyclegan", "ResnetGenerator"]
    again = LatentMapperPipeline.from_pretrained(tmp_path / "pipe")
    assert np.array_equal(np.asarray(again.translate([image])[0]), np.asarray(translated))


def _tiny_config() -> dict:
    return {"device": "cpu", "num_threads": 1, "seed": 0, "image_size": 32, "checkpoint_every_steps": 3,
            "generator": dict(ngf=4, num_downsamplings=2, num_res_blocks=1, max_channels=16),
            "discriminator": {"ndf": 4, "num_layers": 2},
            "train": {"steps": 6, "batch_size": 2, "lr": 2e-3, "betas": [0.5, 0.999], "decay_start": 0.5,
                      "lambda_cycle": 10.0, "lambda_identity": 0.5, "pool_size": 50, "flip": True,
                      "log_every_steps": 2}}


def test_a_tiny_cyclegan_trains_with_falling_cycle_loss():
    from latentmapper.training.cyclegan_fitting import CycleGAN, cyclegan_step, make_optimizers

    torch.manual_seed(0)
    config = _tiny_config()
    model = CycleGAN(config)
    opt_g, opt_d = make_optimizers(model, config["train"])
    pools = (ImagePool(50), ImagePool(50))
    smooth = lambda n: torch.nn.functional.interpolate(torch.rand(n, 3, 4, 4) * 2 - 1, size=32, mode="bilinear")  # noqa: E731
    photos, renders = smooth(4), smooth(4) * 0.5 + 0.5
    cycle = [cyclegan_step(model, photos, renders, opt_g, opt_d, pools, config["train"])["cycle"] for _ in range(25)]
    assert np.mean(cycle[-5:]) < 0.7 * np.mean(cycle[:3])


def _folder(path: Path, count: int, color) -> Path:
    path.mkdir()
    for i in range(count):
        image = Image.new("RGB", (40, 40), (255, 255, 255))
        ImageDraw.Draw(image).rectangle((5 + i, 10, 30, 30), fill=color)
        image.save(path / f"{i}.png")
    return path


def test_training_script_writes_the_translator_and_resumes(tmp_path):
    from latentmapper.training.commands import train_cyclegan

    photos, renders = _folder(tmp_path / "photos", 5, (40, 90, 30)), _folder(tmp_path / "renders", 3, (90, 90, 200))
    config = _tiny_config()
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = tmp_path / "run"
    args = ["--photos", str(photos), "--renders", str(renders), "--config", str(tmp_path / "config.json"),
            "--output", str(out)]
    assert train_cyclegan.main(args) == 0
    log = json.loads((out / "cyclegan_log.json").read_text())
    assert log["steps"] == 6 and [h["step"] for h in log["history"]] == [2, 4, 6]
    translator = ResnetGenerator.from_pretrained(out / "translator")
    assert translator.config.image_size == 32 and (out / "samples.png").is_file()
    with pytest.raises(SystemExit, match="--resume"):
        train_cyclegan.main(args)
    config["train"]["steps"] = 8
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert train_cyclegan.main(args + ["--resume"]) == 0
    log = json.loads((out / "cyclegan_log.json").read_text())
    assert log["steps"] == 8 and log["history"][-1]["step"] == 8
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no images"):
        train_cyclegan.main(["--photos", str(tmp_path / "empty"), "--renders", str(renders), "--config",
                             str(tmp_path / "config.json"), "--output", str(tmp_path / "other")])
