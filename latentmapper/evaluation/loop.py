"""The metrics loop: every system on every input view of every shape, resumable per (system, shape).

For each shape, each system predicts from the 9 training views (the fixed view is the yaw-0
one among them) and from ``unseen_per_shape`` unseen views; the oracle predicts once. Each
prediction is scored and timed, and the shape's scores for one system are written to
``WORK/<system>/<shape_id>.json`` at once (atomically), so an interrupted evaluation
resumes where it stopped and a system added later is evaluated alone. ``WORK/<system>/
settings.json`` records what the scores depend on; resuming with other settings is refused.
The meshes predicted from the fixed view of the first ``figure_shapes`` shapes are kept in
``WORK/meshes/`` for the figure.

Every scored prediction also records its Chamfer to each shape of the ``gallery`` (the whole
evaluated split, not one shard's part; ``cross.Gallery``), from which ``identification_top1``
is counted. A cached record without those distances for every gallery shape (made before
they were recorded, or with a smaller ``--limit``) or made with another number of points is
predicted and scored again, not reused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from ..atomic import atomic_path, write_json
from .cross import Gallery, holds_cross, score_with_cross
from .predictors import Prediction, System
from .shapes import EvalShape, RenderSettings, SplitShapes
from .views import View, training_views, unseen_views


class SettingsMismatch(RuntimeError):
    """A work folder holds scores made with other settings."""


def mesh_path(work_dir: Path, system: str, shape_id: str) -> Path:
    return Path(work_dir) / "meshes" / system / f"{shape_id}.ply"


def check_settings(folder: Path, settings: dict) -> None:
    """Record ``settings`` in ``folder``, or refuse if it already holds different ones."""
    path = folder / "settings.json"
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != settings:
            changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            raise SettingsMismatch(
                f"{folder} holds scores made with other settings ({', '.join(changed)} differ); "
                f"delete that folder to redo them, or evaluate into another work folder")
        return
    write_json(path, settings)


class Evaluation:
    """Runs ``systems`` over ``shapes``; :meth:`run` returns the per-shape records of every system."""

    def __init__(
        self,
        shapes: SplitShapes,
        systems: Sequence[System],
        work_dir: str | Path,
        *,
        unseen_per_shape: int = 9,
        seed: int = 0,
        emd_points: int = 1024,
        figure_shapes: int = 4,
        render: RenderSettings | None = None,
        settings: dict | None = None,
        gallery: Gallery | None = None,
        progress: bool = True,
    ) -> None:
        self.shapes, self.systems, self.work_dir = shapes, list(systems), Path(work_dir)
        self.unseen_per_shape, self.seed, self.emd_points = int(unseen_per_shape), int(seed), int(emd_points)
        self.figure_shapes, self.progress = int(figure_shapes), progress
        self.render = render or shapes.render_settings()
        self.settings = dict(settings or {})
        if gallery is None:  # a sharded evaluation passes the whole split's
            gallery = Gallery(shapes.surface_points(), seed=self.seed)
        self.gallery = gallery

    def system_settings(self, system: System) -> dict:
        common = {"seed": self.seed, "unseen_per_shape": self.unseen_per_shape, "emd_points": self.emd_points,
                  "render": [self.render.image_size, self.render.supersample]}
        return {**common, **self.settings.get("common", {}), **self.settings.get(system.name, {})}

    def record_path(self, system: System, shape_id: str) -> Path:
        return self.work_dir / system.name / f"{shape_id}.json"

    def cached(self, system: System, shape_id: str) -> dict | None:
        """The cached record, if it exists and holds the cross distances to every gallery shape."""
        path = self.record_path(system, shape_id)
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        if record.get("cross_points") != self.gallery.count:
            return None
        return record if holds_cross(record.get("views", []), self.gallery.ids) else None

    def run(self) -> dict[str, list[dict]]:
        for system in self.systems:
            check_settings(self.work_dir / system.name, self.system_settings(system))
        records: dict[str, list[dict]] = {s.name: [] for s in self.systems}
        bar = tqdm(range(len(self.shapes)), desc="evaluating", unit="shape", disable=not self.progress)
        for index in bar:
            shape_id = self.shapes.shape_ids[index]
            todo = [s for s in self.systems if self.cached(s, shape_id) is None]
            if todo:
                self._evaluate_shape(index, self.shapes[index], todo, bar)
            for system in self.systems:
                records[system.name].append(json.loads(self.record_path(system, shape_id).read_text()))
        bar.close()
        return records

    def _evaluate_shape(self, index: int, shape: EvalShape, systems: list[System], bar) -> None:
        views = training_views(shape)
        if self.unseen_per_shape and any(not s.view_independent for s in systems):
            views += unseen_views(shape, self.unseen_per_shape, self.seed, self.render)
        for system in systems:
            bar.set_postfix(system=system.name)
            entries = []
            for view in ([None] if system.view_independent else views):
                prediction = system.predict(None if view is None else view.image, shape)
                entries.append(self._entry(view, prediction, shape))
                keep = view is None or view.is_fixed
                if keep and index < self.figure_shapes and prediction.mesh is not None:
                    with atomic_path(mesh_path(self.work_dir, system.name, shape.shape_id)) as tmp:
                        prediction.mesh.export(str(tmp), file_type="ply")
            write_json(self.record_path(system, shape.shape_id),
                        {"shape_id": shape.shape_id, "system": system.name, "cross_points": self.gallery.count,
                         "views": entries})

    def _entry(self, view: View | None, prediction: Prediction, shape: EvalShape) -> dict:
        where = {"kind": "shape"} if view is None else view.describe()
        scores, cross = score_with_cross(prediction.mesh, shape.surface_points, self.gallery,
                                         emd_points=self.emd_points, seed=self.seed)
        info = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in prediction.info.items()}
        seconds = None if prediction.seconds is None else round(prediction.seconds, 6)
        return {**where, **scores, "seconds": seconds, **info, "cross_chamfer_x1e3": cross}


__all__ = ["Evaluation", "SettingsMismatch", "check_settings", "mesh_path"]
