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
# the 9 training views at 128^3): cars mean 4.54, max 11.8; airplanes mean 15.7, max 58.4. Each bound is
# about 1.3x the worst measured value. The second check asks that the mesh be much closer to its own
# shape than to a shape of the other category.
MAX_CHAMFER_X1E3 = {"car": 15.0, "airplane": 75.0}


def first_test_seed() -> int:
    seeds, splits = shape_seeds(600, 0), split_of(600, 0)
    return next(seed for seed, split in zip(seeds, splits) if split == "test")


@pytest.fixture(scope="module")
def test_shapes():
    config = RecordConfig(sdf_samples=256, surface_samples=5000)  # the renders as in training; few SDF samples
    seed = first_test_seed()
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
