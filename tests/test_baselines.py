"""Baselines (issue 7): IM-NET-style ResNet -> DIT latent and AtlasNet-25; their training scripts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from latentmapper.data import RecordConfig
from latentmapper.data.build import build_dataset
from latentmapper.geometry import chamfer_distance
from latentmapper.models.baselines import AtlasNet, ImNetBaseline, chamfer_loss, images_to_pixels, square_grid


TINY_RESNET = dict(image_size=32, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1])


def tiny_atlasnet(**kwargs) -> AtlasNet:
    torch.manual_seed(0)
    config = dict(num_patches=4, code_dim=8, decoder_hidden_size=16, decoder_num_layers=2, **TINY_RESNET)
    return AtlasNet(**{**config, **kwargs})


def test_imnet_round_trip_and_latent_scale(tmp_path):
    torch.manual_seed(0)
    model = ImNetBaseline(latent_size=6, head_hidden_size=16, **TINY_RESNET)
    codes = torch.randn(50, 6) * 3 + 5
    model.set_normalization(codes)
    model.eval()
    images = [Image.new("RGB", (40, 40), (255, 255, 255)), Image.new("RGB", (40, 40), (10, 120, 200))]
    pixels = model.preprocess(images)
    assert pixels.shape == (2, 1, 32, 32) and float(pixels[0].min()) == 1.0  # grayscale, [0, 1], white stays 1
    with torch.no_grad():
        out = model(pixels)
    assert out.shape == (2, 6) and abs(float(out.mean()) - 5) < 3  # in the codes' scale, not unit scale
    model.save_pretrained(tmp_path / "imnet")
    assert sorted(p.name for p in (tmp_path / "imnet").iterdir()) == ["config.json", "diffusion_pytorch_model.safetensors"]
    loaded = ImNetBaseline.from_pretrained(tmp_path / "imnet").eval()
    with torch.no_grad():
        assert torch.equal(loaded(pixels), out)
    with pytest.raises(ValueError, match="32x32"):
        model(torch.rand(1, 1, 16, 16))
    with pytest.raises(TypeError, match="not a PIL image"):
        images_to_pixels([np.zeros((4, 4, 3))], 32, True)


def test_atlasnet_patches_meshes_and_round_trip(tmp_path):
    model = tiny_atlasnet().eval()
    pixels = torch.rand(2, 1, 32, 32)
    uv = torch.rand(5, 2)
    points = model(pixels, uv).detach()
    assert points.shape == (2, 4, 5, 3) and float(points.abs().max()) < 1  # tanh output
    assert not torch.allclose(points[:, 0], points[:, 1])  # each patch is its own MLP
    assert not torch.allclose(points[0], points[1])  # and depends on the image

    meshes = model.meshes(pixels, grid_size=3)
    assert len(meshes) == 2 and meshes[0].vertices.shape == (4 * 9, 3) and meshes[0].faces.shape == (4 * 8, 3)
    grid_uv, _ = square_grid(3)
    assert np.allclose(meshes[1].vertices.reshape(4, 9, 3), model(pixels, grid_uv)[1].detach().numpy(), atol=1e-6)

    model.save_pretrained(tmp_path / "atlas")
    loaded = AtlasNet.from_pretrained(tmp_path / "atlas").eval()
    assert torch.equal(loaded(pixels, uv).detach(), points)
    with pytest.raises(ValueError, match="uv must be"):
        model(pixels, torch.rand(3, 5, 2))


def test_square_grid_by_hand():
    uv, faces = square_grid(2)
    assert uv.tolist() == [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    assert faces.tolist() == [[0, 2, 3], [0, 3, 1]]
    with pytest.raises(ValueError):
        square_grid(1)


def test_chamfer_loss_is_the_reported_metric_and_differentiable():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 40, 3, generator=generator), torch.rand(3, 25, 3, generator=generator)
    expected = np.mean([chamfer_distance(a[i].numpy(), b[i].numpy()) for i in range(3)])
    a.requires_grad_(True)
    loss = chamfer_loss(a, b, shapes_per_chunk=2)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert a.grad is not None and float(a.grad.abs().sum()) > 0
    # by hand: {0, 1} on a line against {0}: (0 + 1) / 2 + 0
    assert float(chamfer_loss(torch.tensor([[[0.0, 0, 0], [1.0, 0, 0]]]), torch.zeros(1, 1, 3))) == pytest.approx(0.5)


def test_atlasnet_fits_one_shape():
    """A few dozen Adam steps on one image pull the patches onto a target sphere: the loss can be learned."""
    model = tiny_atlasnet()
    pixels = torch.rand(1, 1, 32, 32)
    target = torch.nn.functional.normalize(torch.randn(1, 300, 3, generator=torch.Generator().manual_seed(1)), dim=-1)
    target = target * 0.6
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.eval()  # BatchNorm with one image: use running statistics
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        loss = chamfer_loss(model(pixels, model.random_uv(20, generator)).flatten(1, 2), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.3 * losses[0]


# ---- the training scripts on a tiny dataset ------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """6 procedural cars (4 train, 1 validation, 1 test) and DIT codes for the training and validation shapes."""
    from datasets import load_from_disk

    root = tmp_path_factory.mktemp("baselines")
    config = RecordConfig(image_size=32, sdf_samples=2000, surface_samples=500, mesh_resolution=40, supersample=1)
    build_dataset("car", 6, root / "car", config=config, num_workers=1, progress=False)
    dataset = load_from_disk(str(root / "car"))
    generator = torch.Generator().manual_seed(0)
    save_file({s: torch.randn(8, generator=generator) for s in dataset["train"]["shape_id"]},
              str(root / "latents.safetensors"))
    save_file({s: torch.randn(8, generator=generator) for s in dataset["validation"]["shape_id"]},
              str(root / "val_latents.safetensors"))
    return root


def _config(tmp_path: Path, name: str, data: dict) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_train_imnet_baseline_script(tiny_run, tmp_path):
    from latentmapper.training.commands import train_imnet_baseline

    config = _config(tmp_path, "imnet", {
        "device": "cpu", "seed": 0, "model": {**TINY_RESNET, "grayscale": True, "head_hidden_size": 16, "dropout": 0.0},
        "max_epochs": 3, "patience": 5, "batch_size": 2, "lr": 1e-3, "augment": {"zoom": [0.9, 1.1], "rotation_deg": 5}})
    args = ["--dataset", str(tiny_run / "car"), "--latents", str(tiny_run / "latents.safetensors"),
            "--val-latents", str(tiny_run / "val_latents.safetensors"), "--config", config, "--output", str(tmp_path / "out")]
    assert train_imnet_baseline.main(args) == 0
    log = json.loads((tmp_path / "out" / "imnet_log.json").read_text())
    assert log["epochs"] == 3 and log["train_shapes"] == 4 and log["val_shapes"] == 1
    model = ImNetBaseline.from_pretrained(tmp_path / "out" / "imnet")
    assert model.config.latent_size == 8 and model.config.image_size == 32
    with pytest.raises(SystemExit, match="--resume"):
        train_imnet_baseline.main(args)
    assert train_imnet_baseline.main(args + ["--resume"]) == 0  # finished: resumes to the same end
    assert json.loads((tmp_path / "out" / "imnet_log.json").read_text())["history"] == log["history"]


def test_train_atlasnet_script(tiny_run, tmp_path):
    from latentmapper.training.commands import train_atlasnet

    config = _config(tmp_path, "atlasnet", {
        "device": "cpu", "seed": 0,
        "model": {**TINY_RESNET, "grayscale": True, "num_patches": 4, "code_dim": 8, "decoder_hidden_size": 16,
                  "decoder_num_layers": 2},
        "train": {"max_epochs": 2, "patience": 5, "batch_size": 2, "lr": 1e-3, "points_per_patch": 10,
                  "target_points": 50, "pool_points": 500, "val_grid_size": 3, "val_target_points": 100,
                  "augment": {"zoom": [0.9, 1.1], "rotation_deg": 5}}})
    args = ["--dataset", str(tiny_run / "car"), "--config", config, "--output", str(tmp_path / "out")]
    assert train_atlasnet.main(args) == 0
    log = json.loads((tmp_path / "out" / "atlasnet_log.json").read_text())
    assert log["epochs"] == 2 and log["val_chamfer_x1e3"] > 0
    model = AtlasNet.from_pretrained(tmp_path / "out" / "atlasnet")
    assert model.config.num_patches == 4


def test_augmentation_is_a_function_of_the_batch():
    from latentmapper.training.fixed_views import augmented

    pixels = (torch.rand(4, 1, 16, 16) * 255).to(torch.uint8)
    rows = torch.tensor([3, 1, 0, 2])
    aug = {"zoom": [0.8, 1.2], "rotation_deg": 10}
    first = augmented(pixels, rows, True, aug, seed=0)
    assert torch.equal(first, augmented(pixels, rows, True, aug, seed=0))  # the same on resume
    assert not torch.equal(first, augmented(pixels, torch.tensor([0, 1, 2, 4]), True, aug, seed=0))
    assert torch.equal(augmented(pixels, rows, False, aug, seed=0), pixels.float() / 255)  # none in validation
