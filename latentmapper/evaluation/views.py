"""The input views of Table 3: the fixed view, the 9 training views, and unseen views.

* fixed view: yaw 0 (what the IM-NET and AtlasNet baselines are trained on, as in the paper);
* the 9 training views: the dataset's own renders, yaw 0, 30, ..., 240 at the training elevation;
* unseen views: yaws strictly between two training yaws (at least 5 degrees from both) and
  elevations up to +-10 degrees from the training one (``latentmapper.cameras.novel_cameras``), rendered from
  the shape's mesh by ``latentmapper.data.render.render_mesh`` with the dataset's camera
  distance, field of view, image size and supersampling, i.e. exactly as the dataset renders.

Unseen views are drawn from a generator seeded by ``(seed, crc32(shape_id))``, so a shape's
views do not depend on which other shapes are evaluated (``--limit``) or in which order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import PIL.Image

from ..cameras import OrbitCamera, novel_cameras
from ..data.render import render_mesh
from .shapes import EvalShape, RenderSettings

FIXED_YAW = 0.0
VIEW_SETS = ("fixed_view", "nine_views", "unseen_views")


@dataclass(frozen=True)
class View:
    """One input image of a shape and where it was taken from."""

    kind: str  # "training" (a dataset render) or "unseen" (rendered here)
    camera: OrbitCamera
    image: PIL.Image.Image

    @property
    def is_fixed(self) -> bool:
        return self.kind == "training" and abs(self.camera.yaw - FIXED_YAW) < 1e-6

    def describe(self) -> dict:
        return {"kind": self.kind, "yaw": round(float(self.camera.yaw), 4),
                "elevation": round(float(self.camera.elevation), 4)}


def fixed_view_index(yaws) -> int:
    """Index of the yaw-0 render among a shape's views."""
    for i, yaw in enumerate(yaws):
        if abs(float(yaw) - FIXED_YAW) < 1e-6:
            return i
    raise ValueError(f"no view at yaw {FIXED_YAW:g} among {list(yaws)}")


def training_views(shape: EvalShape) -> list[View]:
    """The shape's dataset renders (the 9 training views)."""
    return [View("training", cam, image) for cam, image in zip(shape.cameras, shape.images)]


def unseen_cameras(shape: EvalShape, count: int, seed: int) -> list[OrbitCamera]:
    """``count`` cameras between the training yaws, elevation within +-10 degrees of training."""
    if not shape.cameras:
        raise ValueError(f"shape {shape.shape_id} has no training cameras to derive unseen views from")
    rng = np.random.default_rng([int(seed), zlib.crc32(shape.shape_id.encode())])
    return novel_cameras(shape.cameras, count, rng)


def render_view(shape: EvalShape, camera: OrbitCamera, settings: RenderSettings) -> PIL.Image.Image:
    """The shape's mesh from ``camera``, rendered as the dataset renders its views."""
    return render_mesh(shape.mesh(), camera, settings.image_size, shape.face_colors, settings.supersample)


def unseen_views(shape: EvalShape, count: int, seed: int, settings: RenderSettings) -> list[View]:
    return [View("unseen", cam, render_view(shape, cam, settings)) for cam in unseen_cameras(shape, count, seed)]


__all__ = ["FIXED_YAW", "VIEW_SETS", "View", "fixed_view_index", "render_view", "training_views", "unseen_cameras",
           "unseen_views"]
