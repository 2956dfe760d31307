"""ShapeNetCore.v2 import on a tiny OBJ tree written by the test."""

from pathlib import Path

import numpy as np
import pytest
import trimesh
from datasets import load_from_disk

from latentmapper.data.build import BuildError, import_shapenet
from latentmapper.data.shapenet import ShapeNetError, find_models

SYNSET = "02958343"


def _write_model(root: Path, model_id: str, mesh: trimesh.Trimesh | None, text: str | None = None) -> None:
    folder = root / SYNSET / model_id / "models"
    folder.mkdir(parents=True)
    path = folder / "model_normalized.obj"
    if text is not None:
        path.write_text(text)
    else:
        mesh.export(path)


def _open_box(extents) -> trimesh.Trimesh:
    box = trimesh.creation.box(extents)
    return trimesh.Trimesh(box.vertices, box.faces[2:], process=False)  # one side missing


@pytest.fixture
def shapenet_tree(tmp_path):
    root = tmp_path / "ShapeNetCore.v2"
    _write_model(root, "aaa", trimesh.creation.box((1.0, 0.5, 2.0)))
    _write_model(root, "bbb", trimesh.creation.icosphere(subdivisions=2))
    _write_model(root, "ccc", trimesh.creation.capsule(height=1.0, radius=0.3))
    _write_model(root, "ddd", _open_box((0.6, 0.4, 1.5)))
    _write_model(root, "eee", None, text="this is not an obj file\nf 1 2 3\n")
    return root


def test_find_models_lists_models_and_rejects_bad_folders(shapenet_tree, tmp_path):
    assert [m for m, _ in find_models(shapenet_tree, SYNSET)] == ["aaa", "bbb", "ccc", "ddd", "eee"]
    with pytest.raises(ShapeNetError, match="does not exist"):
        find_models(tmp_path / "missing", SYNSET)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShapeNetError, match="no models found"):
        find_models(tmp_path / "empty", SYNSET)


def test_import_repairs_open_meshes_and_skips_broken_ones(shapenet_tree, tmp_path, tiny_record_config):
    out = tmp_path / "cars"
    dataset = import_shapenet(shapenet_tree, SYNSET, out, config=tiny_record_config, num_workers=1, progress=False)
    ids = sorted(i for split in dataset.values() for i in split["shape_id"])
    assert ids == ["aaa", "bbb", "ccc", "ddd"]  # eee could not be loaded
    reloaded = load_from_disk(str(out))
    row = next(r for split in reloaded.values() for r in split if r["shape_id"] == "ddd")
    assert row["category"] == "car" and row["source"] == "shapenet"
    mesh = trimesh.Trimesh(np.asarray(row["vertices"]), np.asarray(row["faces"]))
    assert mesh.is_watertight  # the open box was closed
    assert np.linalg.norm(mesh.vertices, axis=1).max() <= 1 / 1.03 + 1e-5
    assert len(row["images"]) == 9
    info = (out / "latentmapper_build.json").read_text()
    assert "eee" in info  # the skipped model and its reason are recorded


def test_import_refuses_a_folder_without_models(tmp_path, tiny_record_config):
    (tmp_path / "nothing" / SYNSET).mkdir(parents=True)
    with pytest.raises(ShapeNetError, match="no models found"):
        import_shapenet(tmp_path / "nothing", SYNSET, tmp_path / "out", config=tiny_record_config, num_workers=1)
    assert not (tmp_path / "out").exists()


def test_import_without_repair_skips_open_meshes(shapenet_tree, tmp_path, tiny_record_config):
    dataset = import_shapenet(shapenet_tree, SYNSET, tmp_path / "strict", repair=False,
                              config=tiny_record_config, num_workers=1, progress=False)
    ids = sorted(i for split in dataset.values() for i in split["shape_id"])
    assert ids == ["aaa", "bbb", "ccc"]
