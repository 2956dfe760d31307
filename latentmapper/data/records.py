"""One dataset row per shape: normalised mesh, SDF samples, surface points, 9 renders, caption.

The same steps serve procedural shapes and imported ShapeNet meshes, so both end up in
the form the paper's preprocessing gives: unit sphere (buffer 1.03), y up, front -z.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import trimesh
from PIL import Image

from ..cameras import OrbitCamera, TRAINING_YAWS
from ..geometry import evaluate_sdf_grid, marching_cubes
from .normalize import DEFAULT_BUFFER, normalize_to_unit_sphere
from .render import face_colors_of, render_mesh
from .sdf_sampling import DEFAULT_NUM_SAMPLES, sample_sdf, sample_surface


@dataclass(frozen=True)
class RecordConfig:
    """What to compute per shape. Stored with a build so a resumed build stays consistent."""

    image_size: int = 128
    sdf_samples: int = DEFAULT_NUM_SAMPLES
    surface_samples: int = 5000
    mesh_resolution: int = 128
    yaws: tuple[float, ...] = TRAINING_YAWS
    elevation: float = 20.0
    camera_distance: float = 2.6
    fov: float = 45.0
    supersample: int = 2
    buffer: float = DEFAULT_BUFFER

    def __post_init__(self) -> None:
        """Bad options fail here, before any shape is computed (issue 19: not after the last one)."""
        minimum = {"image_size": 16, "sdf_samples": 1, "surface_samples": 1, "mesh_resolution": 8, "supersample": 1}
        for name, low in minimum.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name.replace('_', '-')} must be an integer of at least {low}, got {value!r}")
        if not self.yaws:
            raise ValueError("the build needs at least one view (yaws is empty)")
        if not 0.0 < self.fov < 180.0 or not self.camera_distance > 0.0 or not self.buffer > 0.0:
            raise ValueError(f"fov must be in (0, 180) and camera_distance, buffer positive; got {self.fov}, "
                             f"{self.camera_distance}, {self.buffer}")

    def cameras(self) -> list[OrbitCamera]:
        return [OrbitCamera(y, self.elevation, self.camera_distance, self.fov) for y in self.yaws]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["yaws"] = list(self.yaws)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "RecordConfig":
        data = dict(data)
        data["yaws"] = tuple(float(y) for y in data.get("yaws", TRAINING_YAWS))
        return cls(**data)


@dataclass
class ShapeRecord:
    """Everything stored for one shape (column names match the dataset's features)."""

    shape_id: str
    category: str
    subtype: str
    source: str
    seed: int
    caption: str
    params: dict
    vertices: np.ndarray
    faces: np.ndarray
    face_colors: np.ndarray
    sdf_samples: np.ndarray
    surface_points: np.ndarray
    images: list[Image.Image]
    cameras: list[OrbitCamera]
    normalization_center: np.ndarray
    normalization_scale: float
    extra: dict = field(default_factory=dict)

    def mesh(self) -> trimesh.Trimesh:
        mesh = trimesh.Trimesh(self.vertices, self.faces, process=False)
        mesh.visual.face_colors = self.face_colors
        return mesh


def _drop_specks(mesh: trimesh.Trimesh, min_face_fraction: float = 0.005) -> trimesh.Trimesh:
    """Remove tiny disconnected fragments that marching cubes leaves at thin features."""
    parts = mesh.split(only_watertight=False)
    if len(parts) <= 1:
        return mesh
    keep = [p for p in parts if len(p.faces) >= min_face_fraction * len(mesh.faces)]
    return trimesh.util.concatenate(keep) if keep else mesh


def mesh_procedural_shape(shape, resolution: int = 128) -> trimesh.Trimesh:
    """Marching cubes of a procedural shape's SDF on a cubic grid over its bounds, part-coloured."""
    lo, hi = (np.asarray(b, dtype=np.float64) for b in shape.bounds)
    center, half = (lo + hi) / 2.0, (hi - lo).max() / 2.0 * 1.02
    grid = evaluate_sdf_grid(shape.sdf, resolution, (center - half, center + half), margin=1.5)
    mesh = _drop_specks(marching_cubes(grid))
    labels = shape.part_labels(torch.tensor(np.asarray(mesh.triangles_center), dtype=torch.float32))
    mesh.visual.face_colors = np.asarray(shape.part_colors, dtype=np.uint8)[labels.numpy()]
    return mesh


def record_from_mesh(
    mesh: trimesh.Trimesh,
    *,
    shape_id: str,
    category: str,
    config: RecordConfig,
    seed: int,
    subtype: str = "",
    source: str = "procedural",
    caption: str = "",
    params: dict | None = None,
) -> ShapeRecord:
    """Normalise a watertight mesh and compute its samples and renders."""
    if not mesh.is_watertight:
        raise ValueError(f"shape {shape_id}: the mesh is not watertight; SDF signs would be unreliable")
    face_colors = face_colors_of(mesh)
    normalised, center, scale = normalize_to_unit_sphere(mesh, config.buffer)
    sdf = sample_sdf(normalised, config.sdf_samples, seed=seed)
    surface = sample_surface(normalised, config.surface_samples, seed=seed + 1)
    cameras = config.cameras()
    images = [
        render_mesh(normalised, cam, config.image_size, face_colors, config.supersample)
        for cam in cameras
    ]
    return ShapeRecord(
        shape_id=shape_id,
        category=category,
        subtype=subtype,
        source=source,
        seed=seed,
        caption=caption,
        params=params or {},
        vertices=np.asarray(normalised.vertices, dtype=np.float32),
        faces=np.asarray(normalised.faces, dtype=np.int32),
        face_colors=face_colors,
        sdf_samples=sdf,
        surface_points=surface,
        images=images,
        cameras=cameras,
        normalization_center=center.astype(np.float32),
        normalization_scale=scale,
    )


def procedural_shape_id(category: str, seed: int) -> str:
    return f"{category}-{seed:09d}"


def procedural_record(category: str, seed: int, config: RecordConfig) -> ShapeRecord:
    """Generate, mesh, normalise, sample and render procedural shape ``(category, seed)``."""
    from .families import generate_shape

    shape = generate_shape(category, seed)
    mesh = mesh_procedural_shape(shape, config.mesh_resolution)
    return record_from_mesh(
        mesh,
        shape_id=procedural_shape_id(category, seed),
        category=category,
        config=config,
        seed=seed,
        subtype=shape.subtype,
        source="procedural",
        caption=shape.caption,
        params=shape.params,
    )


# --- on-disk form of one record (resumable builds): a .npz of arrays, no pickles ----------


def _png_bytes(image: Image.Image) -> np.ndarray:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


def save_record(record: ShapeRecord, path) -> None:
    """Write ``record`` to ``path`` (.npz); the caller makes it atomic."""
    meta = {
        "shape_id": record.shape_id,
        "category": record.category,
        "subtype": record.subtype,
        "source": record.source,
        "seed": record.seed,
        "caption": record.caption,
        "params": record.params,
        "cameras": [cam.to_dict() for cam in record.cameras],
        "normalization_scale": record.normalization_scale,
        "extra": record.extra,
    }
    arrays = {
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        "vertices": record.vertices,
        "faces": record.faces,
        "face_colors": record.face_colors,
        "sdf_samples": record.sdf_samples,
        "surface_points": record.surface_points,
        "normalization_center": record.normalization_center,
    }
    for i, image in enumerate(record.images):
        arrays[f"image_{i}"] = _png_bytes(image)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_record(path) -> ShapeRecord:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes().decode())
        images = []
        for i in range(len(meta["cameras"])):
            images.append(Image.open(io.BytesIO(data[f"image_{i}"].tobytes())).convert("RGB"))
        return ShapeRecord(
            shape_id=meta["shape_id"],
            category=meta["category"],
            subtype=meta["subtype"],
            source=meta["source"],
            seed=int(meta["seed"]),
            caption=meta["caption"],
            params=meta["params"],
            vertices=data["vertices"],
            faces=data["faces"],
            face_colors=data["face_colors"],
            sdf_samples=data["sdf_samples"],
            surface_points=data["surface_points"],
            images=images,
            cameras=[OrbitCamera(**c) for c in meta["cameras"]],
            normalization_center=data["normalization_center"],
            normalization_scale=float(meta["normalization_scale"]),
            extra=meta.get("extra", {}),
        )
