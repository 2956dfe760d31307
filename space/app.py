"""Gradio Blocks of the LatentMapper Space: reconstruct, latent interpolation, shape explorer.

``build_demo()`` loads the pipelines once and wires the callbacks; ``launch_options()`` is
what ``launch()`` needs to serve only the Space's own files, with an upload limit.
"""

from __future__ import annotations

import os

import gradio as gr

from latentmapper.mesh_io import MESH_FORMATS

from .components import input_image
from .display import VIEWER_BACKGROUND, VIEWER_CAMERA
from .examples import EXAMPLES_DIR, Example, examples_for, load_examples, serve_examples
from .explorer import explorer_tab
from .interpolation import LIVE_RESOLUTION, LatentInterpolator
from .models import load_pipelines
from .outputs import OUTPUT_DIR, STARTUP_DIR, request_folder
from .photo_mode import PHOTO_MODE_LABEL, PHOTO_MODE_NOTE
from .reconstruct import DEFAULT_RESOLUTION, MAX_RESOLUTION, MIN_RESOLUTION, Reconstruction, Reconstructor

TITLE = "LatentMapper: single-view 3D reconstruction"
DESCRIPTION = """
# LatentMapper: one image in, a 3D mesh out
Image features (CLIP + the keys of every ViT layer) are **mapped into the latent space of a
Deep Implicit Templates SDF model**, then decoded to a watertight mesh, following
*3D-LatentMapper* (Dirik & Yanardag). Upload a render-like image of {objects} (one object on
a white background), or click an example below.
"""
FOOTER = """
<small>Models: {models}. Downloads are in the dataset's canonical frame (y up, front −z); the
viewer turns the mesh to glTF's front. Examples are test-split shapes the models never saw.</small>
"""
CSS = """
.lm-timings { font-size: 0.9em; }
footer { display: none !important; }
"""
MAX_UPLOAD = "10mb"
DEFAULT_CONCURRENCY = 2


def launch_options() -> dict:
    """``launch()`` keywords every start of the Space uses: its files only, an upload limit, its look."""
    return {
        "allowed_paths": allowed_paths(),
        "max_file_size": MAX_UPLOAD,
        "theme": gr.themes.Soft(primary_hue="orange", secondary_hue="blue"),
        "css": CSS,
        "footer_links": [],
    }


def allowed_paths() -> list[str]:
    """The only folders the server may serve files from (besides Gradio's own upload cache)."""
    return [str(OUTPUT_DIR), str(EXAMPLES_DIR)]


def build_demo(model: str | None = None, pipelines: dict | None = None,
               concurrency: int = DEFAULT_CONCURRENCY) -> gr.Blocks:
    """The Space. ``pipelines`` ({category: pipeline}) skips loading, e.g. in tests."""
    reconstructor = Reconstructor(pipelines if pipelines is not None else load_pipelines(model))
    examples = load_examples()
    serve_examples()
    with gr.Blocks(title=TITLE, delete_cache=(900, 3600), analytics_enabled=False) as demo:
        gr.Markdown(DESCRIPTION.format(objects=" or ".join(
            f"{'an' if c[:1] in 'aeiou' else 'a'} **{c}**" for c in reconstructor.categories)))
        with gr.Tab("Reconstruct"):
            reconstruct_tab(reconstructor, examples)
        with gr.Tab("Latent interpolation") as latent:
            latent_tab(LatentInterpolator(reconstructor, examples), latent)
        with gr.Tab("Shape explorer"):
            gr.Markdown("The procedural shape families the models are trained on: pick a category and a seed.")
            explorer_tab()
        gr.Markdown(FOOTER.format(models=", ".join(
            f"`{_model_name(pipe, name)}` ({name})" for name, pipe in reconstructor.pipelines.items())))
    demo.queue(default_concurrency_limit=concurrency, max_size=64)
    return demo


def _model_name(pipe, category: str) -> str:
    """A hub id as given; a local folder by its name only (the page shows no server paths)."""
    source = str(getattr(pipe.config, "_name_or_path", "") or "")
    return os.path.basename(os.path.normpath(source)) if source and os.path.isdir(source) else source or category


def first_result(reconstructor: Reconstructor, shown: list[Example]) -> tuple[Example, Reconstruction] | None:
    """The first example, reconstructed at start-up: the page opens with a result (and the viewer's
    library loaded, so that the first click is as quick as the next ones)."""
    if not shown:
        return None
    example = shown[0]
    category = example.category if example.category in reconstructor.pipelines else reconstructor.categories[0]
    try:
        return example, reconstructor.reconstruct(example.path, category, folder=request_folder(STARTUP_DIR, keep=4))
    except gr.Error:  # e.g. a --model of another category that finds no surface: start empty
        return None


def reconstruct_tab(reconstructor: Reconstructor, examples: tuple[Example, ...]) -> None:
    categories = reconstructor.categories
    shown = _gallery(examples, categories)
    first = first_result(reconstructor, shown)
    example, result = first if first else (None, None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            image = input_image(example and example.served)
            category = gr.Radio(categories, value=result.category if result else categories[0],
                                label="Category (picks the model)")
            button = gr.Button("Reconstruct 3D", variant="primary", elem_id="lm-run")
            with gr.Accordion("Options", open=True):
                resolution = gr.Slider(MIN_RESOLUTION, MAX_RESOLUTION, value=DEFAULT_RESOLUTION, step=16,
                                       label="Marching-cubes resolution",
                                       info="grid size per axis; higher is finer and slower")
                download_format = gr.Radio([f.upper() for f in MESH_FORMATS], value="GLB", label="Download format")
                show_preview = gr.Checkbox(value=False, label="Sphere-traced preview",
                                           info="a picture traced from the SDF itself, after the mesh (2-3 s more)")
                photo_mode = gr.Checkbox(value=False, label=PHOTO_MODE_LABEL, info=PHOTO_MODE_NOTE)
        with gr.Column(scale=3, min_width=360):
            viewer = gr.Model3D(result and str(result.viewer_path), label="3D mesh (drag to orbit, scroll to zoom)",
                                height=420,
                                camera_position=VIEWER_CAMERA, clear_color=VIEWER_BACKGROUND, elem_id="lm-viewer")
            timings = gr.Markdown(f"{example.label}, at start-up: {result.timings}" if result else "",
                                  elem_classes="lm-timings")
            with gr.Row():
                download = gr.File(result and str(result.download_path), label="Download mesh", scale=2)
                preview = gr.Image(label="Sphere-traced preview", height=180, scale=1, interactive=False,
                                   show_label=False, buttons=["download", "fullscreen"], visible=False)
    latent_state = gr.State(None)
    gallery = gr.Gallery([(e.served, e.label) for e in shown], label="Examples: test-split shapes the models never "
                         "saw, from several views. Click one.", columns=8, rows=2, height=320, allow_preview=False,
                         object_fit="contain", elem_id="lm-examples")

    def pick(current: str, evt: gr.SelectData):
        example = shown[evt.index]
        return example.served, example.category if example.category in categories else current

    def reconstruct(image, category, resolution, download_format, photo_mode, progress=gr.Progress()):
        return reconstructor(image, category, resolution, str(download_format).lower(), photo_mode, progress)

    inputs = [image, category, resolution, download_format, photo_mode]
    outputs = [viewer, download, timings, latent_state]
    clicked = button.click(reconstruct, inputs, outputs, api_name="reconstruct", concurrency_id="reconstruct")
    picked = gallery.select(pick, [category], [image, category], api_name=False, queue=False)
    from_example = picked.then(reconstruct, inputs, outputs, api_name=False, concurrency_id="reconstruct")
    show_preview.change(lambda on: gr.update(visible=on), [show_preview], [preview], api_name=False, queue=False)
    for event in (clicked, from_example):  # the mesh first, then the slower preview
        event.success(reconstructor.preview, [latent_state, show_preview], [preview, timings], api_name=False,
                      concurrency_id="reconstruct", show_progress="minimal")


def _gallery(examples: tuple[Example, ...], categories: list[str]) -> list[Example]:
    """Examples of the served categories, in order; all of them for another category of model."""
    chosen = [e for c in categories for e in examples_for(c, examples)]
    return list(dict.fromkeys(chosen))


def latent_tab(interpolator: LatentInterpolator, tab: gr.Tab) -> None:
    categories = interpolator.reconstructor.categories
    gr.Markdown("Blend the latents of two examples: the slider walks the straight line between their DIT codes "
                f"and re-meshes at {LIVE_RESOLUTION}³ as it moves (the paper's real-time manipulation).")
    _, _, first_path, second_path = interpolator.select_category(categories[0])
    choices = interpolator.choices(categories[0])
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            category = gr.Radio(categories, value=categories[0], label="Category")
            with gr.Row():
                first = gr.Dropdown(choices, value=first_path, label="Shape A")
                second = gr.Dropdown(choices, value=second_path, label="Shape B")
            with gr.Row():
                first_image = gr.Image(first_path, label="A", height=150, interactive=False, buttons=[])
                second_image = gr.Image(second_path, label="B", height=150, interactive=False, buttons=[])
            t = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="t: A (0) → B (1)", elem_id="lm-t")
        with gr.Column(scale=3, min_width=360):
            viewer = gr.Model3D(label="Blended shape", height=420, camera_position=VIEWER_CAMERA,
                                clear_color=VIEWER_BACKGROUND, elem_id="lm-blend")
            info = gr.Markdown("")
    category.change(interpolator.select_category, [category], [first, second, first_image, second_image],
                    api_name=False, queue=False)
    first.change(lambda path: path, [first], [first_image], api_name=False, queue=False)
    second.change(lambda path: path, [second], [second_image], api_name=False, queue=False)
    blend_inputs = [category, first, second, t]
    gr.on([tab.select, t.change, first.change, second.change], interpolator.blend, blend_inputs, [viewer, info],
          api_name="interpolate", trigger_mode="always_last", show_progress="hidden", concurrency_id="interpolate")
