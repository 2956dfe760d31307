"""Orbit cameras: yaw about +y, elevation, distance, field of view (the dataset's convention).

Yaw 0 looks at the object's front (the object faces -z); positive yaw moves the camera
towards +x, which is the same picture as turning the object by -yaw about +y.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

TRAINING_YAWS: tuple[float, ...] = tuple(float(y) for y in range(0, 241, 30))  # the paper's 9 views


@dataclass(frozen=True)
class OrbitCamera:
    """A pinhole camera on a sphere around the origin, looking at the origin, y up."""

    yaw: float = 0.0  # degrees
    elevation: float = 20.0  # degrees
    distance: float = 2.6
    fov: float = 45.0  # vertical field of view, degrees

    @property
    def position(self) -> np.ndarray:
        yaw, elev = np.radians(self.yaw), np.radians(self.elevation)
        return self.distance * np.array(
            [np.sin(yaw) * np.cos(elev), np.sin(elev), -np.cos(yaw) * np.cos(elev)]
        )

    def camera_to_world(self) -> np.ndarray:
        """4x4 pose with OpenGL axes: camera looks down its -z, +y is up in the image."""
        eye = self.position
        forward = -eye / np.linalg.norm(eye)
        right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
        if np.linalg.norm(right) < 1e-8:  # looking straight down or up
            right = np.array([1.0, 0.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, -forward, eye
        return pose

    def rays(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Ray origins and unit directions, (size*size, 3) each, row-major from the top-left pixel.

        Cached and read-only: a dataset build renders every shape from the same few cameras.
        """
        return _camera_rays(self, size)

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=64)
def _camera_rays(camera: OrbitCamera, size: int) -> tuple[np.ndarray, np.ndarray]:
    pose = camera.camera_to_world()
    half = np.tan(np.radians(camera.fov) / 2.0)
    coords = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    u, v = np.meshgrid(coords * half, -coords * half)
    dirs_cam = np.stack([u, v, -np.ones_like(u)], axis=-1).reshape(-1, 3)
    dirs = dirs_cam @ pose[:3, :3].T
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    origins = np.broadcast_to(pose[:3, 3], dirs.shape).copy()
    origins.setflags(write=False)
    dirs.setflags(write=False)
    return origins, dirs


def training_cameras(elevation: float = 20.0, distance: float = 2.6, fov: float = 45.0) -> list[OrbitCamera]:
    """The 9 training views of the paper: yaw 0, 30, ..., 240 degrees at one elevation."""
    return [OrbitCamera(yaw, elevation, distance, fov) for yaw in TRAINING_YAWS]


NOVEL_YAW_MARGIN = 5.0  # degrees a novel view keeps from every training yaw
NOVEL_ELEVATION_RANGE = 10.0  # degrees above or below the training elevation


def novel_cameras(training: list[OrbitCamera], count: int, rng: np.random.Generator) -> list[OrbitCamera]:
    """``count`` cameras strictly between the training yaws, elevation within +-10 degrees of theirs.

    The views a user may take that the 9 training renders do not cover: Table 3's unseen views of
    test shapes, and the extra training views that teach the mapper any view (drawn with another seed).
    """
    if count < 0:
        raise ValueError(f"the number of novel views must be >= 0, got {count}")
    if not training:
        raise ValueError("no training cameras to place novel views between")
    base = training[0]
    yaws = sorted(float(c.yaw) for c in training) if len(training) > 1 else list(TRAINING_YAWS)
    gaps = [(a, b) for a, b in zip(yaws[:-1], yaws[1:]) if b - a > 2 * NOVEL_YAW_MARGIN]
    if not gaps:
        raise ValueError(f"the training yaws {yaws} leave no gap for novel views")
    cameras = []
    for _ in range(count):
        lo, hi = gaps[int(rng.integers(len(gaps)))]
        yaw = rng.uniform(lo + NOVEL_YAW_MARGIN, hi - NOVEL_YAW_MARGIN)
        elevation = base.elevation + rng.uniform(-NOVEL_ELEVATION_RANGE, NOVEL_ELEVATION_RANGE)
        cameras.append(OrbitCamera(float(yaw), float(elevation), base.distance, base.fov))
    return cameras
