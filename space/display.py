"""Meshes as the 3D viewer should show them: glTF's orientation, a colour, smooth shading.

The models work in the dataset's canonical frame (y up, front towards -z). glTF viewers
(Gradio's Model3D uses Babylon.js) expect y up and the front towards +z, so the viewer's
copy is turned 180 degrees about y; the downloads stay in the canonical frame, as the CLI
writes them. The DIT has no colours, so the viewer's copy gets one matte colour per
category (PBR material) and vertex normals, which make a marching-cubes mesh look smooth.
"""

from __future__ import annotations

import numpy as np
import trimesh

# Matte colours per category (linear RGBA); anything else gets the first.
VIEWER_COLORS = {
    "car": (0.72, 0.16, 0.12, 1.0),
    "airplane": (0.35, 0.52, 0.78, 1.0),
}
DEFAULT_COLOR = (0.55, 0.55, 0.6, 1.0)
# The viewer's camera (alpha, beta in degrees, radius; Babylon's arc-rotate convention), checked against the
# dataset's render at yaw 30, elevation 20, distance 2.6: the same picture of the front-left, from above.
VIEWER_CAMERA = (125.0, 70.0, 2.6)
VIEWER_BACKGROUND = (1.0, 1.0, 1.0, 1.0)

_FRONT_TO_GLTF = trimesh.transformations.rotation_matrix(np.pi, [0.0, 1.0, 0.0])


def to_gltf_front(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` (colours kept) turned from the canonical front (-z) to glTF's (+z)."""
    shown = mesh.copy()
    shown.apply_transform(_FRONT_TO_GLTF)
    return shown


def viewer_mesh(mesh: trimesh.Trimesh, category: str = "") -> trimesh.Trimesh:
    """A copy of ``mesh`` turned to glTF's front (+z) with a matte material of the category's colour."""
    shown = trimesh.Trimesh(mesh.vertices.copy(), mesh.faces.copy(), process=False)
    shown.apply_transform(_FRONT_TO_GLTF)
    color = np.asarray(VIEWER_COLORS.get(category, DEFAULT_COLOR), dtype=np.float64)
    material = trimesh.visual.material.PBRMaterial(
        baseColorFactor=(color * 255).astype(np.uint8), metallicFactor=0.05, roughnessFactor=0.65, doubleSided=True
    )
    shown.visual = trimesh.visual.TextureVisuals(material=material)
    return shown


def viewer_glb(mesh: trimesh.Trimesh, category: str = "") -> bytes:
    """GLB bytes of ``viewer_mesh`` with vertex normals (smooth shading)."""
    shown = viewer_mesh(mesh, category)
    _ = shown.vertex_normals  # computed now, so the exporter writes them
    return bytes(trimesh.exchange.gltf.export_glb(trimesh.Scene(shown), include_normals=True))
