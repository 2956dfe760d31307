"""The qualitative figure: one row per shape, input | each system's prediction | ground truth.

Meshes are ray cast with the dataset's renderer (``latentmapper.data.render``) in one
neutral colour, all from the same camera (front-left, elevation 20, the training
elevation), so rows compare shapes, not colours or viewpoints. Missing predictions (no
surface) are left as an empty, labelled cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import PIL.ImageDraw
import trimesh

from ..cameras import OrbitCamera
from ..data.render import DEFAULT_COLOR, render_mesh

FIGURE_CAMERA = OrbitCamera(yaw=30.0, elevation=20.0)


@dataclass
class FigureRow:
    shape_id: str
    input_image: PIL.Image.Image
    predictions: dict[str, trimesh.Trimesh | None]
    ground_truth: trimesh.Trimesh


def render_cell(mesh: trimesh.Trimesh | None, size: int, camera: OrbitCamera = FIGURE_CAMERA) -> PIL.Image.Image:
    if mesh is None or len(mesh.faces) == 0:
        return PIL.Image.new("RGB", (size, size), (255, 255, 255))
    colors = np.broadcast_to(DEFAULT_COLOR, (len(mesh.faces), 3))
    return render_mesh(mesh, camera, size, colors, supersample=2)


def make_figure(rows: list[FigureRow], columns: list[tuple[str, str]], cell: int = 128,
                camera: OrbitCamera = FIGURE_CAMERA) -> PIL.Image.Image:
    """A grid image; ``columns`` are (system name, heading) pairs in display order."""
    if not rows:
        raise ValueError("the figure needs at least one shape")
    header = 18
    headings = ["input"] + [title for _, title in columns] + ["ground truth"]
    width, height = cell * len(headings), header + cell * len(rows)
    figure = PIL.Image.new("RGB", (width, height), (255, 255, 255))
    draw = PIL.ImageDraw.Draw(figure)
    for c, title in enumerate(headings):
        draw.text((c * cell + 4, 3), title[: max(4, cell // 7)], fill=(0, 0, 0))
    for r, row in enumerate(rows):
        top = header + r * cell
        cells = [row.input_image.convert("RGB").resize((cell, cell), PIL.Image.BICUBIC)]
        cells += [render_cell(row.predictions.get(name), cell, camera) for name, _ in columns]
        cells.append(render_cell(row.ground_truth, cell, camera))
        for c, image in enumerate(cells):
            figure.paste(image, (c * cell, top))
            if 0 < c <= len(columns) and row.predictions.get(columns[c - 1][0]) is None:
                draw.text((c * cell + 4, top + cell // 2), "no mesh", fill=(160, 0, 0))
        draw.text((4, top + cell - 14), row.shape_id[-20:], fill=(90, 90, 90))
    return figure


__all__ = ["FIGURE_CAMERA", "FigureRow", "make_figure", "render_cell"]
