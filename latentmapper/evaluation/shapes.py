"""The shapes an evaluation runs on: one dataset split, read one shape at a time.

A test shape carries what every system and metric needs: its 9 training renders and their
cameras (the input views), its normalised mesh with part colours (to render unseen views
the same way the dataset did), its surface samples (the ground truth of the metrics) and
its SDF samples (the oracle's fitting target). Its family (sedan, glider, ...) is read from
the row's generator parameters, for the per-family means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import PIL.Image
import trimesh

from ..cameras import OrbitCamera

COLUMNS = ["shape_id", "vertices", "faces", "face_colors", "surface_points", "sdf_samples", "images", "view_yaw",
           "view_elevation", "camera_distance", "camera_fov"]


@dataclass
class EvalShape:
    """One shape of the evaluated split."""

    shape_id: str
    vertices: np.ndarray
    faces: np.ndarray
    face_colors: np.ndarray
    surface_points: np.ndarray  # (N, 3) ground truth of Chamfer and EMD
    sdf_samples: np.ndarray  # (M, 4), the oracle's target
    images: list[PIL.Image.Image]  # the training renders, one per camera
    cameras: list[OrbitCamera]

    def mesh(self) -> trimesh.Trimesh:
        mesh = trimesh.Trimesh(self.vertices, self.faces, process=False)
        mesh.visual.face_colors = self.face_colors
        return mesh


@dataclass(frozen=True)
class RenderSettings:
    """How the dataset rendered its views (image size, supersampling), so new views match them."""

    image_size: int = 128
    supersample: int = 2

    @classmethod
    def of_dataset(cls, dataset_dir: str | Path, fallback_size: int | None = None) -> "RenderSettings":
        """From the build record (``latentmapper_build.json``); else the stored image size, supersample 2."""
        info = Path(dataset_dir) / "latentmapper_build.json"
        if info.is_file():
            config = json.loads(info.read_text()).get("config", {})
            if "image_size" in config:
                return cls(int(config["image_size"]), int(config.get("supersample", 2)))
        return cls(fallback_size or cls.image_size, cls.supersample)


def family_of(params: str | dict | None, subtype: str | None = None) -> str:
    """A shape's family: ``subtype`` of its generator parameters (JSON), else the row's subtype, else "unknown"."""
    if isinstance(params, str):
        try:
            params = json.loads(params) if params else {}
        except json.JSONDecodeError:
            params = {}
    family = params.get("subtype") if isinstance(params, dict) else None
    return str(family or subtype or "unknown")


def _shape_from_row(row: dict) -> EvalShape:
    cameras = [OrbitCamera(float(y), float(e), float(d), float(f)) for y, e, d, f in
               zip(row["view_yaw"], row["view_elevation"], row["camera_distance"], row["camera_fov"])]
    return EvalShape(
        shape_id=str(row["shape_id"]),
        vertices=np.asarray(row["vertices"], dtype=np.float64).reshape(-1, 3),
        faces=np.asarray(row["faces"], dtype=np.int64).reshape(-1, 3),
        face_colors=np.asarray(row["face_colors"], dtype=np.uint8).reshape(-1, 3),
        surface_points=np.asarray(row["surface_points"], dtype=np.float64).reshape(-1, 3),
        sdf_samples=np.asarray(row["sdf_samples"], dtype=np.float32).reshape(-1, 4),
        images=[image.convert("RGB") for image in row["images"]],
        cameras=cameras,
    )


class SplitShapes:
    """The first ``limit`` shapes of ``split`` in ``dataset_dir``, loaded lazily in dataset order.

    ``shard=(index, count)`` keeps every ``count``-th of those shapes from ``index`` on, so that
    several processes can share one evaluation.
    """

    def __init__(
        self, dataset_dir: str | Path, split: str = "test", limit: int | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        from datasets import load_from_disk

        self.dataset_dir = Path(dataset_dir)
        if not (self.dataset_dir / "dataset_dict.json").is_file():
            raise FileNotFoundError(f"{self.dataset_dir} is not a saved DatasetDict (python -m latentmapper.data build)")
        dataset = load_from_disk(str(self.dataset_dir))
        if split not in dataset:
            raise ValueError(f"{self.dataset_dir} has no split {split!r} (it has {sorted(dataset)})")
        rows = dataset[split]
        missing = [c for c in COLUMNS if c not in rows.column_names]
        if missing:
            raise ValueError(f"{self.dataset_dir}[{split}] lacks the columns {missing}")
        count = len(rows) if limit is None else min(int(limit), len(rows))
        indices = range(count)
        if shard is not None:
            index, shards = shard
            if not 0 <= index < shards:
                raise ValueError(f"shard {index}/{shards}: need 0 <= index < count")
            indices = indices[index::shards]
        self.rows = rows.select_columns(COLUMNS).select(indices)
        labels = [c for c in ("subtype", "params") if c in rows.column_names]
        self._labels = rows.select_columns(labels).select(indices)  # for the families
        self.shape_ids = [str(s) for s in self.rows["shape_id"]]

    def __len__(self) -> int:
        return len(self.shape_ids)

    def __getitem__(self, index: int) -> EvalShape:
        return _shape_from_row(self.rows[int(index)])

    def __iter__(self) -> Iterator[EvalShape]:
        for index in range(len(self)):
            yield self[index]

    def surface_points(self, count: int | None = None) -> dict[str, np.ndarray]:
        """The ground-truth points of the first ``count`` shapes (all by default), by id, without the images."""
        rows = self.rows.select(range(len(self) if count is None else min(int(count), len(self))))
        points = rows.select_columns(["surface_points"]).with_format("numpy")["surface_points"]
        return {sid: np.asarray(p, dtype=np.float64).reshape(-1, 3) for sid, p in zip(self.shape_ids, points)}

    def families(self) -> dict[str, str]:
        """Each shape's family by id (see :func:`family_of`)."""
        params = self._labels["params"] if "params" in self._labels.column_names else [None] * len(self)
        subtypes = self._labels["subtype"] if "subtype" in self._labels.column_names else [None] * len(self)
        return {sid: family_of(p, t) for sid, p, t in zip(self.shape_ids, params, subtypes)}

    def render_settings(self) -> RenderSettings:
        first = self.rows[0]["images"][0] if len(self) else None
        return RenderSettings.of_dataset(self.dataset_dir, first.size[0] if first is not None else None)


__all__ = ["EvalShape", "RenderSettings", "SplitShapes", "family_of"]
