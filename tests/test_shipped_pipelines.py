"""The shipped default pipelines (checkpoints/) reconstruct unseen test-split renders.

The shapes are the test split of the default build (``build --num-shapes 600``, seed 0),
regenerated here from their seeds, so the check needs no built dataset.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from latentmapper.data.build import shape_seeds, split_of
from latentmapper.data.records import RecordConfig, procedural_record
from latentmapper.geometry import chamfer_x1e3

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"

# Chamfer x10^3 bound for one reconstruction, from the whole test split (hub_cards/results; 60 shapes x
# the 9 training views at 128^3): cars mean 0.81, max 5.08; airplanes mean 0.83, max 15.5. Each bound is
# about 1.3x the worst measured value. The second check asks that the mesh be much closer to its own
# shape than to a shape of the other category.
MAX_CHAMFER_X1E3 = {"car": 6.6, "airplane": 20.0}


def split_seeds(split: str, count: int) -> list[int]:
    """The first ``count`` shape seeds of ``split`` in the default build."""
    seeds, splits = shape_seeds(600, 0), split_of(600, 0)
    return [seed for seed, s in zip(seeds, splits) if s == split][:count]


@pytest.fixture(scope="module")
def test_shapes():
    config = RecordConfig(sdf_samples=256, surface_samples=5000)  # the renders as in training; few SDF samples
    seed = split_seeds("test", 1)[0]
    return {category: procedural_record(category, seed, config) for category in ("car", "airplane")}


@pytest.mark.parametrize("category", ["car", "airplane"])
def test_shipped_pipeline_reconstructs_a_test_render(category, test_shapes):
    from latentmapper import LatentMapperPipeline

    pipe = LatentMapperPipeline.from_pretrained(CHECKPOINTS / f"latentmapper-{category}")
    assert pipe.config.category == category
    record = test_shapes[category]
    mesh = pipe(record.images[4], resolution=128).meshes[0]  # yaw 120: not the front view
    assert mesh.is_watertight and mesh.volume > 0
    own = chamfer_x1e3(mesh, record.surface_points)
    other = test_shapes["airplane" if category == "car" else "car"].surface_points
    assert own < MAX_CHAMFER_X1E3[category]
    assert own < 0.5 * chamfer_x1e3(mesh, other)  # it is this shape, not any shape


def test_committed_weights_stay_within_the_30_mb_budget():
    weights = list(CHECKPOINTS.rglob("*.safetensors"))
    assert weights, "no shipped weights found"
    assert sum(path.stat().st_size for path in weights) < 30e6


@pytest.mark.parametrize("category", ["car", "airplane"])
def test_committed_base_model_decodes_its_training_shapes_from_their_codes(category):
    """The pipeline's DIT holds its shapes: a training shape's code (checkpoints/dit-<category>) decodes to that
    shape, not an average.

    Measured over 30 training shapes at 128^3 (README): car mean 0.644, airplane 0.286; the bound is 3x that."""
    from safetensors.torch import load_file

    from latentmapper.geometry import latent_to_mesh
    from latentmapper.models import DITDecoder

    folder = CHECKPOINTS / f"dit-{category}"
    decoder = DITDecoder.from_pretrained(CHECKPOINTS / f"latentmapper-{category}" / "dit").eval()
    codes = load_file(folder / "latents.safetensors")
    validation = load_file(folder / "validation_latents.safetensors")
    assert len(codes) == 480 and len(validation) == 32
    assert all(code.shape == (decoder.config.latent_size,) for code in [*codes.values(), *validation.values()])
    config = RecordConfig(image_size=32, sdf_samples=256, surface_samples=5000)
    own, other = (procedural_record(category, seed, config) for seed in split_seeds("train", 2))
    mesh = latent_to_mesh(decoder, codes[own.shape_id].float(), 128)
    score = chamfer_x1e3(mesh, own.surface_points)
    assert score < 3 * {"car": 0.644, "airplane": 0.286}[category]
    assert score < 0.25 * chamfer_x1e3(mesh, other.surface_points)  # this shape, not another training shape
