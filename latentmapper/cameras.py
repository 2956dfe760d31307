"""The one camera model of the package: a pinhole on an orbit around the object, looking at its centre.

Yaw about +y, elevation, distance and vertical field of view, in the dataset's convention:
yaw 0 looks at the object's front (the object faces -z); positive yaw moves the camera
towards +x, which is the same picture as turning the object by -yaw about +y. Poses use
OpenGL axes (the camera looks down its -z, +y is up in the image); rays go through pixel
centres, row-major from the top-left pixel.

Everything that casts rays takes its cameras from here, so the pictures line up: the
dataset's renders (``data/render.py``) and the sphere-traced previews
(``geometry/sphere_tracing.py``) use :meth:`OrbitCamera.rays`; the differentiable volume
renderer of GOEmbed (``geometry/volume_rendering.py``) uses :func:`camera_rays`, the same
rays for batches of poses as torch tensors, with :func:`camera_tensors` turning the cameras
a user passes into those poses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

TRAINING_YAWS: tuple[float, ...] = tuple(float(y) for y in range(0, 241, 30))  # the paper's 9 views
POSE_FOV = 45.0  # the field of view (degrees) given to a camera passed as a bare 4x4 pose


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

    def rays(self, width: int, height: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ray origins and unit directions, (height*width, 3) each, row-major from the top-left pixel.

        ``height`` defaults to ``width``; ``fov`` spans the height. Cached and read-only: a
        dataset build renders every shape from the same few cameras.
        """
        return _camera_rays(self, int(width), int(width if height is None else height))

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=64)
def _camera_rays(camera: OrbitCamera, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    if width < 1 or height < 1:
        raise ValueError(f"an image needs at least one pixel a side, got {width}x{height}")
    pose = camera.camera_to_world()
    half = np.tan(np.radians(camera.fov) / 2.0)
    columns = (np.arange(width) + 0.5) / width * 2.0 - 1.0
    rows = columns if height == width else (np.arange(height) + 0.5) / height * 2.0 - 1.0
    u, v = np.meshgrid(columns * half * (width / height), -rows * half)
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


# ---- batches of cameras as tensors (the differentiable renderer's form) ------------------------
def camera_tensors(
    cameras: Sequence, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cameras -> (camera-to-world poses (V, 4, 4), vertical fields of view in degrees (V,)).

    Each camera may be an ``OrbitCamera``, a dict of its fields (``yaw``, ``elevation``,
    ``distance``, ``fov``), a number (a yaw in degrees at the dataset's elevation 20 and
    distance 2.6), or a 4x4 camera-to-world pose (OpenGL axes; field of view ``POSE_FOV``).
    """
    if isinstance(cameras, (OrbitCamera, dict, int, float)) or (
            isinstance(cameras, (np.ndarray, torch.Tensor)) and cameras.ndim in (0, 2)):
        cameras = [cameras]
    poses, fovs = [], []
    for i, camera in enumerate(cameras):
        if isinstance(camera, dict):
            try:
                camera = OrbitCamera(**camera)
            except TypeError as err:
                raise ValueError(f"camera {i}: {err}; a camera dict takes yaw, elevation, distance, fov") from None
        elif not isinstance(camera, (OrbitCamera, bool, str)) and np.ndim(camera) == 0:
            camera = OrbitCamera(yaw=float(camera))
        if isinstance(camera, OrbitCamera):
            poses.append(camera.camera_to_world())
            fovs.append(camera.fov)
            continue
        pose = np.asarray(camera.detach().cpu() if torch.is_tensor(camera) else camera, dtype=np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise ValueError(
                f"camera {i} must be an OrbitCamera, a dict of its fields, a yaw in degrees or a finite 4x4 "
                f"camera-to-world pose; got {type(camera).__name__} of shape {pose.shape}"
            )
        poses.append(pose)
        fovs.append(POSE_FOV)
    if not poses:
        raise ValueError("at least one camera is needed")
    return (torch.as_tensor(np.stack(poses), dtype=dtype, device=device),
            torch.as_tensor(fovs, dtype=dtype, device=device))


def camera_rays(camera_to_world: torch.Tensor, fov: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray origins and unit directions (..., size*size, 3) for poses (..., 4, 4) and fovs (...).

    The rays of :meth:`OrbitCamera.rays` for square images, in torch: batched and differentiable.
    """
    if camera_to_world.shape[-2:] != (4, 4) or fov.shape != camera_to_world.shape[:-2]:
        raise ValueError(f"poses must be (..., 4, 4) with fovs (...), got {tuple(camera_to_world.shape)} "
                         f"and {tuple(fov.shape)}")
    device, dtype = camera_to_world.device, camera_to_world.dtype
    coords = (torch.arange(size, device=device, dtype=dtype) + 0.5) / size * 2.0 - 1.0
    v, u = torch.meshgrid(-coords, coords, indexing="ij")  # rows go down the image, columns right
    cam = torch.stack([u, v, -torch.ones_like(u)], dim=-1).reshape(-1, 3)  # (P, 3) at unit focal length
    half = torch.tan(torch.deg2rad(fov) / 2.0)[..., None]  # (..., 1)
    cam = cam * torch.stack([half, half, torch.ones_like(half)], dim=-1)  # (..., P, 3)
    dirs = F.normalize(cam @ camera_to_world[..., :3, :3].transpose(-1, -2), dim=-1)
    origins = camera_to_world[..., None, :3, 3].expand_as(dirs)
    return origins, dirs


__all__ = [
    "NOVEL_ELEVATION_RANGE", "NOVEL_YAW_MARGIN", "OrbitCamera", "POSE_FOV", "TRAINING_YAWS", "camera_rays",
    "camera_tensors", "novel_cameras", "training_cameras",
]
