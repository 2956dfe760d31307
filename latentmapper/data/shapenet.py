"""Read ShapeNetCore.v2 (``<synset>/<id>/models/model_normalized.obj``) into the dataset form.

Most ShapeNet meshes are not watertight (open shells, duplicated faces, inner parts), and
SDF signs need a closed surface. A mesh that is not watertight after merging duplicate
vertices is rebuilt from its generalised winding number (inside where it is above 1/2)
by marching cubes, which closes holes the way DIT's preprocessing intends; colours come
back from the nearest face of the original mesh. A mesh that cannot be loaded or rebuilt
is skipped and the reason is reported.
"""

from __future__ import annotations

from pathlib import Path

import igl
import numpy as np
import torch
import trimesh

from ..geometry import evaluate_sdf_grid, marching_cubes
from .records import RecordConfig, ShapeRecord, record_from_mesh
from .render import face_colors_of

MODEL_FILE = Path("models") / "model_normalized.obj"


class ShapeNetError(ValueError):
    """A ShapeNet folder or model cannot be used; the message names it and says why."""


def find_models(shapenet_dir: str | Path, synset: str) -> list[tuple[str, Path]]:
    """(model id, obj path) pairs under ``shapenet_dir/synset`` (or ``shapenet_dir`` itself)."""
    root = Path(shapenet_dir).expanduser()
    if not root.is_dir():
        raise ShapeNetError(f"ShapeNet folder {root} does not exist or is not a folder")
    synset_dir = root / synset if (root / synset).is_dir() else root
    models = sorted((p.name, p / MODEL_FILE) for p in synset_dir.iterdir() if (p / MODEL_FILE).is_file())
    if not models:
        raise ShapeNetError(
            f"no models found in {synset_dir}: expected <synset>/<id>/{MODEL_FILE.as_posix()} files"
        )
    return models


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Load an OBJ (all its parts) as one mesh with face colours baked from its materials."""
    try:
        loaded = trimesh.load(str(path), force="mesh", process=True)
    except Exception as error:
        raise ShapeNetError(f"{path}: could not be loaded ({type(error).__name__}: {error})") from error
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ShapeNetError(f"{path}: holds no triangles")
    return loaded


def rebuild_watertight(mesh: trimesh.Trimesh, resolution: int = 128) -> trimesh.Trimesh:
    """Closed version of ``mesh`` from its winding-number field, coloured from the original."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    lo, hi = vertices.min(0), vertices.max(0)
    center, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.1 + 1e-6

    def field(points):
        p = points.double().numpy()
        dist, _, _, _ = igl.signed_distance(p, vertices, faces, sign_type=igl.SIGNED_DISTANCE_TYPE_UNSIGNED)
        winding = igl.fast_winding_number(vertices, faces, p)
        # thin open sheets have winding ~0: offset the unsigned distance by half a cell so they close
        offset = half * 2 / (resolution - 1) * 0.5
        return torch.from_numpy(np.where(winding > 0.5, -dist, dist - offset)).float()

    grid = evaluate_sdf_grid(field, resolution, (center - half, center + half), margin=1.5, batch_size=65536)
    closed = marching_cubes(grid)
    closed = max(closed.split(only_watertight=True), key=lambda m: len(m.faces), default=closed)
    _, nearest, _, _ = igl.signed_distance(
        np.asarray(closed.triangles_center, dtype=np.float64), vertices, faces,
        sign_type=igl.SIGNED_DISTANCE_TYPE_UNSIGNED,
    )
    closed.visual.face_colors = face_colors_of(mesh)[nearest]
    return closed


def shapenet_record(
    obj_path: str | Path, model_id: str, category: str, config: RecordConfig, seed: int, repair: bool = True
) -> ShapeRecord:
    """Load, close if needed (when ``repair``), normalise, sample and render one ShapeNet model."""
    mesh = load_mesh(obj_path)
    how = "watertight"
    if not mesh.is_watertight:
        mesh.merge_vertices()
        if not mesh.is_watertight:
            if not repair:
                raise ShapeNetError(f"{obj_path}: not watertight (repair disabled)")
            mesh = rebuild_watertight(mesh, config.mesh_resolution)
            how = "rebuilt from winding number"
            if not mesh.is_watertight:
                raise ShapeNetError(f"{obj_path}: still not watertight after rebuilding")
    record = record_from_mesh(
        mesh, shape_id=model_id, category=category, config=config, seed=seed,
        source="shapenet", caption=f"a {category}", params={"obj": str(obj_path)},
    )
    record.extra["watertight"] = how
    return record
