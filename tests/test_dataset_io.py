"""The dataset round-trips through save/load and through the offline Hugging Face cache."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import trimesh
from datasets import load_from_disk
from huggingface_hub import constants

from latentmapper.data.build import BuildError, import_shapenet
from latentmapper.data.hub import load_built_dataset, pull_dataset


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    """Three closed meshes imported the ShapeNet way (no procedural generator needed)."""
    from latentmapper.data import RecordConfig

    root = tmp_path_factory.mktemp("io")
    meshes = {
        "m1": trimesh.creation.box((1.0, 0.5, 2.0)),
        "m2": trimesh.creation.icosphere(subdivisions=2),
        "m3": trimesh.creation.cylinder(radius=0.4, height=1.2),
    }
    for name, mesh in meshes.items():
        folder = root / "sn" / "02691156" / name / "models"
        folder.mkdir(parents=True)
        mesh.export(folder / "model_normalized.obj")
    config = RecordConfig(image_size=24, sdf_samples=300, surface_samples=100, mesh_resolution=24, supersample=1)
    out = root / "planes"
    import_shapenet(root / "sn", "02691156", out, config=config, num_workers=1, progress=False)
    return out


def _rows_by_id(dataset):
    return {row["shape_id"]: row for split in dataset.values() for row in split}


def _assert_same_rows(a, b):
    rows_a, rows_b = _rows_by_id(a), _rows_by_id(b)
    assert rows_a.keys() == rows_b.keys()
    for key, row in rows_a.items():
        other = rows_b[key]
        np.testing.assert_array_equal(np.asarray(row["sdf_samples"]), np.asarray(other["sdf_samples"]))
        np.testing.assert_array_equal(np.asarray(row["faces"]), np.asarray(other["faces"]))
        np.testing.assert_array_equal(np.asarray(row["camera_to_world"]), np.asarray(other["camera_to_world"]))
        assert row["caption"] == other["caption"]
        for img_a, img_b in zip(row["images"], other["images"]):
            np.testing.assert_array_equal(np.asarray(img_a), np.asarray(img_b))


def test_saved_dataset_has_three_splits_and_typed_columns(small_dataset):
    dataset = load_from_disk(str(small_dataset))
    assert set(dataset) == {"train", "validation", "test"}
    row = dataset["train"][0]
    assert np.asarray(row["sdf_samples"]).shape == (300, 4)
    assert np.asarray(row["camera_to_world"]).shape == (9, 4, 4)
    assert row["view_yaw"] == [0, 30, 60, 90, 120, 150, 180, 210, 240]
    assert (small_dataset / "README.md").read_text().startswith("---")


def test_round_trip_through_save_and_load(small_dataset, tmp_path):
    dataset = load_from_disk(str(small_dataset))
    dataset.save_to_disk(str(tmp_path / "copy"))
    _assert_same_rows(dataset, load_from_disk(str(tmp_path / "copy")))


def _place_in_hub_cache(dataset_dir: Path, repo_id: str) -> None:
    """Lay the dataset out in the cache as `push_to_hub` + a download would leave it."""
    commit = "0" * 39 + "1"
    repo = Path(constants.HF_HUB_CACHE) / f"datasets--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    (snapshot / "data").mkdir(parents=True)
    for name, split in load_from_disk(str(dataset_dir)).items():
        split.to_parquet(str(snapshot / "data" / f"{name}-00000-of-00001.parquet"))
    shutil.copy(dataset_dir / "README.md", snapshot / "README.md")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_pull_works_offline_from_the_local_cache(small_dataset, tmp_path):
    _place_in_hub_cache(small_dataset, "latentmapper-test/planes")
    pulled = pull_dataset("latentmapper-test/planes", tmp_path / "pulled")
    assert set(pulled) == {"train", "validation", "test"}
    _assert_same_rows(load_from_disk(str(small_dataset)), load_from_disk(str(tmp_path / "pulled")))


def test_pull_of_an_uncached_repo_offline_says_so(tmp_path):
    with pytest.raises(BuildError, match="not in the local Hugging Face cache"):
        pull_dataset("latentmapper-test/never-pushed", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_pull_refuses_to_overwrite(small_dataset, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(BuildError, match="already exists"):
        pull_dataset("latentmapper-test/anything", tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_loading_a_folder_that_is_not_a_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(BuildError, match="not a saved dataset"):
        load_built_dataset(tmp_path)
