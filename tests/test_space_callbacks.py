"""The Space's callbacks called directly, over the tiny test pipeline (an octahedron for every latent)."""

import gradio as gr
import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from conftest import build_tiny_pipeline, png_header_only, rgba_png, sixteen_bit_grey_png
from latentmapper.data.build import shape_seeds, split_of
from space.display import viewer_glb, viewer_mesh
from space.examples import load_examples
from space.interpolation import LatentInterpolator
from space.outputs import request_folder
from space.reconstruct import STAGES, Reconstructor


@pytest.fixture
def reconstructor(tiny_pipeline, tmp_path):
    return Reconstructor({"car": tiny_pipeline}, workers=2, output_root=tmp_path)


@pytest.fixture(scope="module")
def car_example():
    return next(e.path for e in load_examples() if e.category == "car")


def _glb_mesh(path) -> trimesh.Trimesh:
    return trimesh.load(path, force="mesh")


def test_examples_are_small_test_split_renders_of_both_categories_from_several_yaws():
    examples = load_examples()
    assert 12 <= len(examples) <= 16
    test_seeds = {seed for seed, split in zip(shape_seeds(600, 0), split_of(600, 0)) if split == "test"}
    for category in ("car", "airplane"):
        mine = [e for e in examples if e.category == category]
        assert len({e.yaw for e in mine}) >= 4 and len({e.seed for e in mine}) >= 3
        assert {e.seed for e in mine} <= test_seeds
    assert all(Image.open(e.path).size == (128, 128) for e in examples)


def test_reconstruct_gives_a_viewer_glb_a_download_and_every_stage_time(reconstructor, car_example):
    viewer, download, timings, state = reconstructor(car_example, "car", 64, "obj", False)
    shown, saved = _glb_mesh(viewer), trimesh.load(download, force="mesh")
    assert len(shown.faces) > 100 and len(saved.faces) == len(shown.faces)
    assert download.endswith(".obj")
    assert all(f"{stage} **" in timings for stage in STAGES) and "total" in timings
    assert len(state["latent"]) == 8 and state["category"] == "car"
    image, with_preview = reconstructor.preview(state, True)
    assert image.size == (128, 128) and np.asarray(image).std() > 1.0  # the octahedron is drawn
    assert "preview" in with_preview and reconstructor.preview(state, False)[0] is None


def test_the_space_shows_the_pipeline_timings_and_runs_on_its_workers(reconstructor, car_example, monkeypatch):
    pipe, calls = reconstructor.pipeline("car"), []
    real_call = type(pipe).__call__

    def spy(self, *args, **kwargs):
        out = real_call(self, *args, **kwargs)
        calls.append((kwargs.get("workers"), dict(out.timings)))
        return out

    monkeypatch.setattr(type(pipe), "__call__", spy)
    result = reconstructor.reconstruct(car_example, "car", 64, "glb")
    (workers, timings), = calls  # one pipeline call does the whole reconstruction
    assert workers == reconstructor.workers == 2
    assert list(result.seconds) == list(STAGES)
    assert result.seconds["features"] == pytest.approx(timings["prepare"] + timings["features"])
    assert result.seconds["SDF grid"] == timings["sdf_grid"] and result.seconds["mapper"] == timings["mapper"]
    assert f"SDF grid **{timings['sdf_grid']:.2f} s**" in result.timings


def test_viewer_copy_faces_gltf_front_with_a_colour_and_downloads_stay_canonical():
    box = trimesh.creation.box((0.2, 0.2, 0.2))
    box.apply_translation((0.3, 0.0, -0.5))  # the canonical front is -z
    shown = viewer_mesh(box, "car")
    assert np.allclose(shown.bounds.mean(axis=0), (-0.3, 0.0, 0.5), atol=1e-6)  # turned 180 deg about y
    assert np.allclose(box.bounds.mean(axis=0), (0.3, 0.0, -0.5))  # the input is not changed
    glb = viewer_glb(box, "car")
    loaded = trimesh.load(trimesh.util.wrap_as_stream(glb), file_type="glb", force="mesh")
    color = np.asarray(loaded.visual.material.baseColorFactor, dtype=float)
    assert color[0] > color[2] + 50  # the car's red, not the default grey
    assert b'"NORMAL"' in glb  # vertex normals: smooth shading in the viewer


@pytest.mark.parametrize("kind, message", [
    ("none", "upload an image"),
    ("text", "not an image file"),
    ("tiny", "at least 16 pixels"),
    ("huge", "the limit is 50 megapixels"),
])
def test_bad_images_are_plain_errors_without_server_paths(reconstructor, tmp_path, kind, message):
    path = tmp_path / "upload-dir" / f"input-{kind}.png"
    path.parent.mkdir()
    if kind == "text":
        path.write_text("this is not a picture")
    elif kind == "tiny":
        Image.new("RGB", (8, 8), "white").save(path)
    elif kind == "huge":
        path.write_bytes(png_header_only(10_000, 8_000))
    with pytest.raises(gr.Error, match=message) as caught:
        reconstructor(None if kind == "none" else str(path), "car", 64, "glb", False)
    assert str(path.parent) not in str(caught.value.message)


@pytest.mark.parametrize("change, message", [
    (dict(category="boat"), "Unknown category"),
    (dict(resolution=300), "from 64 to 256"),
    (dict(resolution=64.5), "whole number"),
    (dict(download_format="stl"), "Unknown download format"),
])
def test_bad_options_are_plain_errors(reconstructor, car_example, change, message):
    args = dict(image=car_example, category="car", resolution=64, download_format="glb", photo_mode=False) | change
    with pytest.raises(gr.Error, match=message):
        reconstructor(**args)


def test_photo_mode_prepares_a_photo_like_the_renders(reconstructor, car_example):
    from latentmapper.photo import make_photo_like

    photo = make_photo_like(Image.open(car_example).convert("RGB"), np.random.default_rng(0))  # backdrop, shifts, noise
    viewer, *_ = reconstructor(np.asarray(photo), "car", 64, "glb", True)
    assert len(_glb_mesh(viewer).faces) > 100
    prepared = reconstructor.pipelines["car"].prepare_images(photo, photo_mode=True)[0]  # what the call above mapped
    corners = np.asarray(prepared)[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert prepared.size == (128, 128) and (corners > 245).all()  # the backdrop is gone: white, like the renders


def test_a_latent_without_surface_is_a_plain_error(car_example, tmp_path):
    pipe = build_tiny_pipeline()
    with torch.no_grad():
        pipe.dit.template.out.bias.fill_(5.0)  # positive everywhere: every point is outside
    with pytest.raises(gr.Error, match="found no surface"):
        Reconstructor({"car": pipe}, workers=1, output_root=tmp_path)(car_example, "car", 64, "glb", False)


def test_interpolation_blends_two_examples_and_refuses_other_files(reconstructor):
    interpolator = LatentInterpolator(reconstructor, load_examples(), resolution=32)
    first_update, second_update, first, second = interpolator.select_category("car")
    assert first != second and all("car-" in path for _, path in first_update["choices"])
    path, info = interpolator.blend("car", first, second, 0.5)
    assert len(_glb_mesh(path).faces) > 50 and "t = 0.50" in info
    assert ("car", first) in interpolator._latents  # encoded once, then cached
    with pytest.raises(gr.Error, match="from 0 to 1"):
        interpolator.blend("car", first, second, 1.5)
    with pytest.raises(gr.Error, match="from the lists"):
        interpolator.blend("car", first, "/etc/hostname", 0.5)


def test_concurrent_requests_get_the_same_latents_as_one_at_a_time(reconstructor):
    from concurrent.futures import ThreadPoolExecutor

    paths = [e.path for e in load_examples()[:6]]
    alone = [reconstructor.reconstruct(p, "car", 64).latent for p in paths]
    with ThreadPoolExecutor(6) as pool:  # the feature hooks on the shared ViT must not mix requests
        together = list(pool.map(lambda p: reconstructor.reconstruct(p, "car", 64).latent, paths))
    assert np.allclose(alone, together, atol=1e-6) and not np.allclose(alone[0], alone[-1])


def test_model_option_serves_one_pipeline_named_by_its_category(tiny_pipeline_dir):
    from space.models import load_pipelines

    pipelines = load_pipelines(str(tiny_pipeline_dir), device="cpu")
    assert list(pipelines) == ["car"] and pipelines["car"].latent_size == 8


def test_the_space_gives_its_pipelines_the_checkout_s_matting_u_net(tiny_pipeline_dir):
    """Photo mode's matting U-Net is not inside the pipeline folders (the weights budget): the Space adds it."""
    from space.models import SHIPPED_MATTING, load_pipelines

    matting = load_pipelines(str(tiny_pipeline_dir), device="cpu")["car"].matting
    if SHIPPED_MATTING.is_dir():
        assert matting is not None and matting.config.out_channels == 1
    else:
        assert matting is None  # then photo mode uses the classical matting


def test_request_folders_are_pruned(tmp_path):
    folders = [request_folder(tmp_path, keep=3) for _ in range(5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in folders[-3:])


@pytest.fixture(scope="module")
def demo(tiny_pipeline):
    from space import build_demo

    return build_demo(pipelines={"car": tiny_pipeline, "airplane": tiny_pipeline})


def test_build_demo_wires_the_api_and_offers_photo_mode(demo):
    named = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {"reconstruct", "interpolate"} <= named
    photo = [b for b in demo.blocks.values() if isinstance(b, gr.Checkbox) and b.label.startswith("Photo mode")]
    assert len(photo) == 1 and photo[0].interactive is not False
    tabs = [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert tabs == ["Reconstruct", "Latent interpolation", "Shape explorer"]


def test_photo_mode_on_an_image_without_an_object_is_a_plain_error(reconstructor, tmp_path):
    """Issue 19, defect 5: an empty matte escaped the callback as a ValueError (Gradio's generic error)."""
    path = tmp_path / "strip.png"
    Image.new("RGB", (1000, 16), "white").save(path)
    with pytest.raises(gr.Error, match="no object") as caught:
        reconstructor(str(path), "car", 64, "glb", True)
    assert "photo mode" in caught.value.message.lower()


def _upload_payloads(path):
    """What the browser (a file in Gradio's cache) and an API client (a data URL) send for ``path``."""
    import base64

    from gradio.data_classes import ImageData

    url = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    return [ImageData(path=str(path), orig_name=path.name), ImageData(url=url, orig_name=path.name)]


@pytest.mark.parametrize("write", [sixteen_bit_grey_png, rgba_png])
def test_uploads_reach_the_callback_as_the_library_reads_the_file(demo, reconstructor, tmp_path, write):
    """Issue 19, defect 3: the image component converted uploads to RGB first (16-bit clipped to white,
    transparency to black), so the Space reconstructed another image than the library."""
    from space.reconstruct import read_image
    from latentmapper.image_io import load_image

    path = tmp_path / "upload.png"
    write(path)
    expected = np.asarray(load_image(path))
    component = next(b for b in demo.blocks.values() if isinstance(b, gr.Image) and b.label == "Input image")
    latent = reconstructor.encode("car", load_image(path))
    for payload in _upload_payloads(path):
        received = read_image(component.preprocess(payload))  # what the callback reads
        assert np.array_equal(np.asarray(received), expected)
        assert torch.allclose(reconstructor.encode("car", received), latent, atol=1e-6)


def test_the_page_config_names_examples_by_relative_paths_only(demo):
    """Issue 19, defect 9: /config showed the examples' absolute server paths (and Gradio's cache copies)."""
    import json
    import re

    from space.examples import EXAMPLES_DIR

    text = json.dumps(demo.get_config_file(), default=str)
    assert str(EXAMPLES_DIR) not in text and str(EXAMPLES_DIR.parent.parent) not in text
    gallery = next(b for b in demo.blocks.values() if isinstance(b, gr.Gallery) and b.label.startswith("Examples"))
    paths = [item["image"]["path"] for item in gallery.value]
    assert paths and all(not p.startswith("/") and (EXAMPLES_DIR / p.rsplit("/", 1)[-1]).is_file() for p in paths)
    named = re.findall(r'"([^"]*(?:car|airplane)-\d+-yaw\d+\.png)"', text)
    assert named and all(not n.split("/file=")[-1].startswith("/") for n in named)  # no copies in Gradio's cache


def test_requests_decode_their_images_one_at_a_time(reconstructor, car_example, monkeypatch):
    """Issue 19, defect 4: two 7000x7000 uploads decoded at once took the Space past its memory target."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import space.reconstruct as module
    from space.memory import release_memory

    lock, inside, most = threading.Lock(), [0], [0]
    real = module.read_image

    def read(image):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        try:
            return real(image)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(module, "read_image", read)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: reconstructor(car_example, "car", 64, "glb", False), range(4)))
    assert most[0] == 1 and len(results) == 4
    assert isinstance(release_memory(), bool)  # a no-op where the C library is not glibc
