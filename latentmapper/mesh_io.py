"""Meshes to bytes and files: GLB (the default: one binary file every 3D viewer opens), OBJ, PLY.

Written with trimesh; files appear atomically, so an interrupted run leaves no half mesh.
"""

from __future__ import annotations

import os
from pathlib import Path

import trimesh

from .atomic import atomic_path

MESH_FORMATS = ("glb", "obj", "ply")


def check_format(file_type: str) -> str:
    file_type = file_type.lower().lstrip(".")
    if file_type not in MESH_FORMATS:
        raise ValueError(f"unknown mesh format {file_type!r}; choose one of {', '.join(MESH_FORMATS)}")
    return file_type


def export_mesh(mesh: trimesh.Trimesh, file_type: str = "glb") -> bytes:
    """The mesh encoded as a ``file_type`` file."""
    data = mesh.export(file_type=check_format(file_type))
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def save_mesh(mesh: trimesh.Trimesh | bytes, path: str | os.PathLike, file_type: str | None = None) -> Path:
    """Write a mesh (or already encoded bytes) to ``path``; the format defaults to the suffix."""
    path = Path(path)
    file_type = check_format(file_type or path.suffix or "glb")
    data = mesh if isinstance(mesh, (bytes, bytearray)) else export_mesh(mesh, file_type)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


__all__ = ["MESH_FORMATS", "check_format", "export_mesh", "save_mesh"]
