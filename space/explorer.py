"""Shape explorer: generate a procedural shape and show its mesh, renders and caption.

It shows exactly what the dataset builder stores for one (category, seed), so a user can
see the training data before any model exists.
"""

from __future__ import annotations

import json

import gradio as gr

from latentmapper.data.records import RecordConfig, procedural_record

from .display import VIEWER_BACKGROUND, VIEWER_CAMERA, to_gltf_front
from .outputs import EXPLORER_DIR, request_folder

EXPLORER_KEEP = 16  # explorer meshes kept for the viewer (20 seeds at 192^3 were 39 MB, never removed)


def explore_shape(category: str, seed: float, mesh_resolution: float = 128):
    """(category, seed) -> GLB path, the 9 renders, caption, parameters."""
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise gr.Error(f"the seed must be a whole number, got {seed!r}") from None
    if seed < 0:
        raise gr.Error("the seed must be 0 or more")
    config = RecordConfig(image_size=128, sdf_samples=1, surface_samples=1, mesh_resolution=int(mesh_resolution))
    try:
        record = procedural_record(category, seed, config)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    path = request_folder(EXPLORER_DIR, keep=EXPLORER_KEEP) / f"{record.shape_id}-{int(mesh_resolution)}.glb"
    to_gltf_front(record.mesh()).export(path)  # the viewer's frame; the part colours are kept
    views = [(image, f"yaw {camera.yaw:.0f}") for image, camera in zip(record.images, record.cameras)]
    return str(path), views, record.caption, json.dumps(record.params, indent=2)


def explorer_tab() -> None:
    with gr.Row():
        with gr.Column(scale=1):
            category = gr.Radio(["car", "airplane"], value="car", label="Category")
            seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
            resolution = gr.Slider(64, 192, value=128, step=32, label="Marching-cubes resolution")
            button = gr.Button("Generate", variant="primary")
            caption = gr.Textbox(label="Caption", interactive=False)
        with gr.Column(scale=2):
            viewer = gr.Model3D(label="Mesh (normalised to the unit sphere, y up)", clear_color=VIEWER_BACKGROUND,
                                camera_position=VIEWER_CAMERA, height=420)
    gallery = gr.Gallery(label="The 9 training views", columns=9, height=180)
    with gr.Accordion("Parameters", open=False):
        params = gr.Code(language="json", label="Parameters (JSON)")
    button.click(explore_shape, [category, seed, resolution], [viewer, gallery, caption, params],
                 concurrency_limit=2)
