"""The dataset schema (``datasets.Features``) and the conversion of a record to a row."""

from __future__ import annotations

import io
import json

import numpy as np
from datasets import Array2D, Array3D, Features, Image, List, Value

from .records import ShapeRecord

SPLITS = ("train", "validation", "test")

SHAPE_FEATURES = Features(
    {
        "shape_id": Value("string"),
        "category": Value("string"),
        "subtype": Value("string"),
        "source": Value("string"),  # "procedural" or "shapenet"
        "seed": Value("int64"),
        "caption": Value("string"),
        "params": Value("string"),  # JSON of the generator parameters
        # normalised mesh (unit sphere, buffer 1.03, y up, front -z) and its part colours
        "vertices": Array2D(shape=(None, 3), dtype="float32"),
        "faces": Array2D(shape=(None, 3), dtype="int32"),
        "face_colors": Array2D(shape=(None, 3), dtype="uint8"),
        # DeepSDF-style samples: x, y, z, signed distance (negative inside)
        "sdf_samples": Array2D(shape=(None, 4), dtype="float32"),
        "surface_points": Array2D(shape=(None, 3), dtype="float32"),
        # the views and their cameras (OrbitCamera fields, plus the 4x4 camera-to-world pose)
        "images": List(Image()),
        "view_yaw": List(Value("float32")),
        "view_elevation": List(Value("float32")),
        "camera_distance": List(Value("float32")),
        "camera_fov": List(Value("float32")),
        "camera_to_world": Array3D(shape=(None, 4, 4), dtype="float32"),
        "normalization_center": List(Value("float32"), length=3),
        "normalization_scale": Value("float32"),
    }
)


def record_to_row(record: ShapeRecord) -> dict:
    images = []
    for image in record.images:
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        images.append({"bytes": buf.getvalue(), "path": None})
    return {
        "shape_id": record.shape_id,
        "category": record.category,
        "subtype": record.subtype,
        "source": record.source,
        "seed": int(record.seed),
        "caption": record.caption,
        "params": json.dumps(record.params, sort_keys=True),
        "vertices": record.vertices,
        "faces": record.faces,
        "face_colors": record.face_colors,
        "sdf_samples": record.sdf_samples,
        "surface_points": record.surface_points,
        "images": images,
        "view_yaw": [c.yaw for c in record.cameras],
        "view_elevation": [c.elevation for c in record.cameras],
        "camera_distance": [c.distance for c in record.cameras],
        "camera_fov": [c.fov for c in record.cameras],
        "camera_to_world": np.stack([c.camera_to_world() for c in record.cameras]).astype(np.float32),
        "normalization_center": [float(v) for v in record.normalization_center],
        "normalization_scale": float(record.normalization_scale),
    }
