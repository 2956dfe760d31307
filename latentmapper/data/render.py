"""CPU renderer for meshes: ray casting (Embree through trimesh) with Lambertian shading.

No OpenGL context exists on a headless CPU machine, and at 128-224 px one ray per
(sub)pixel is cheap with Embree, so renders are ray cast. Lights live in the camera's
frame, which keeps shading alike across the 9 views as a studio render would.
"""

from __future__ import annotations

import numpy as np
import trimesh
from PIL import Image

from ..cameras import OrbitCamera

DEFAULT_COLOR = np.array([180, 180, 185], dtype=np.uint8)
# (direction towards the light in camera axes, intensity); plus an ambient term.
_LIGHTS = ((np.array([-0.4, 0.7, 0.6]), 0.55), (np.array([0.6, 0.2, 0.8]), 0.25))
_AMBIENT = 0.3


def face_colors_of(mesh: trimesh.Trimesh) -> np.ndarray:
    """Per-face RGB (uint8) from the mesh's visual: face colours, vertex colours or a material."""
    try:
        colors = np.asarray(mesh.visual.to_color().face_colors)[:, :3]
        if colors.shape[0] == len(mesh.faces):
            return colors.astype(np.uint8)
    except Exception:  # textures that cannot be baked fall back to a neutral grey
        pass
    return np.broadcast_to(DEFAULT_COLOR, (len(mesh.faces), 3)).copy()


def render_mesh(
    mesh: trimesh.Trimesh,
    camera: OrbitCamera,
    size: int = 128,
    face_colors: np.ndarray | None = None,
    supersample: int = 2,
) -> Image.Image:
    """Render ``mesh`` on white from ``camera`` as an RGB image of ``size`` x ``size``."""
    if face_colors is None:
        face_colors = face_colors_of(mesh)
    face_colors = np.asarray(face_colors, dtype=np.float32)
    if face_colors.shape != (len(mesh.faces), 3):
        raise ValueError(f"face_colors must be (num_faces, 3) = ({len(mesh.faces)}, 3), got {face_colors.shape}")
    full = size * supersample
    origins, dirs = camera.rays(full)
    tri, ray = mesh.ray.intersects_id(origins, dirs, multiple_hits=False)

    image = np.full((full * full, 3), 255.0, dtype=np.float32)
    if len(ray):
        normals = np.asarray(mesh.face_normals, dtype=np.float32)[tri]
        facing = np.einsum("ij,ij->i", normals, dirs[ray]) > 0
        normals[facing] *= -1.0  # two-sided shading for open or inverted meshes
        rot = camera.camera_to_world()[:3, :3]
        shade = np.full(len(ray), _AMBIENT, dtype=np.float32)
        for direction, intensity in _LIGHTS:
            light = rot @ (direction / np.linalg.norm(direction))
            shade += intensity * np.clip(normals @ light.astype(np.float32), 0.0, None)
        image[ray] = np.clip(face_colors[tri] * shade[:, None], 0, 255)
    image = image.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
    return Image.fromarray(np.round(image).astype(np.uint8), mode="RGB")
