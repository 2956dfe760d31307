"""Every bad input of issue 19, and the ones that already passed, through the library and the Space.

One table per kind of input (image files and arrays, options, model folders, command lines),
each case run on both sides where it applies, so that none of them regresses: the library
raises one error naming the problem, the Space shows a plain ``gr.Error`` without server paths
(never Gradio's generic "the upstream app raised an exception"), the command line prints one
line and exits 2. The tiny test pipeline keeps it to seconds.
"""

from __future__ import annotations

import json
import os
import shutil

import gradio as gr
import numpy as np
import pytest
import torch
from gradio.data_classes import ImageData
from PIL import Image

from conftest import png_header_only, rgba_png, sixteen_bit_grey_png
from latentmapper.image_io import MAX_SIDE, InvalidImageError, load_image
from latentmapper import LatentMapperPipeline
from latentmapper.pipelines import PipelineLoadError
from space.components import input_image
from space.reconstruct import Reconstructor, read_image


@pytest.fixture
def space(tiny_pipeline, tmp_path):
    return Reconstructor({"car": tiny_pipeline}, workers=1, output_root=tmp_path / "space-output")


def _truncated_png(path):
    Image.new("RGB", (64, 64), "red").save(path)
    path.write_bytes(path.read_bytes()[:-40])


# ---- images: (write the input into tmp_path -> path or array, library message, Space message) ------------
BAD_IMAGES = {
    "not-an-image": (lambda p: p.write_text("this is not a picture"), "not an image file", "not an image"),
    "truncated-png": (_truncated_png, "corrupted or truncated", "corrupted or truncated"),
    "decompression-bomb": (lambda p: p.write_bytes(png_header_only(20_000, 20_000)), "megapixels", "megapixels"),
    "too-small": (lambda p: Image.new("RGB", (8, 8)).save(p), "at least 16 pixels", "at least 16 pixels"),
    "nan-array": (lambda p: np.full((32, 32, 3), np.nan, np.float32), "NaN", "NaN"),
}


def _bad_image(case, tmp_path):
    path = tmp_path / "uploads" / f"{case}.png"
    path.parent.mkdir(exist_ok=True)
    made = BAD_IMAGES[case][0](path)
    return made if isinstance(made, np.ndarray) else str(path)


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_a_bad_image_is_one_clear_error_in_the_library_and_the_space(tiny_pipeline, space, tmp_path, case):
    _, library_message, space_message = BAD_IMAGES[case]
    image = _bad_image(case, tmp_path)
    with pytest.raises(InvalidImageError, match=library_message):
        tiny_pipeline(image, output_type="latent")
    with pytest.raises(gr.Error, match=space_message) as caught:
        space(image, "car", 64, "glb", False)
    assert str(tmp_path) not in caught.value.message  # the server's upload folder is not shown
    if isinstance(image, str):  # an upload: first through the page's image component, as Gradio runs it
        with pytest.raises(gr.Error, match=space_message):
            space(input_image().preprocess(ImageData(path=image, orig_name="upload.png")), "car", 64, "glb", False)


def test_photo_mode_on_an_image_without_an_object(space, tmp_path):
    """Defect 5: the empty matte escaped as a ValueError; the library still raises one (EmptyMatteError)."""
    from latentmapper.photo import EmptyMatteError, prepare_photo

    strip = Image.new("RGB", (1000, 16), "white")
    with pytest.raises(EmptyMatteError, match="matte is empty"):
        prepare_photo(strip)
    with pytest.raises(gr.Error, match="no object"):
        space(np.asarray(strip), "car", 64, "glb", True)


@pytest.mark.parametrize("write", [sixteen_bit_grey_png, rgba_png])
def test_16_bit_and_rgba_uploads_give_the_library_result_in_the_space(tiny_pipeline, space, tmp_path, write):
    """Defect 3 (no error, but a silently different image): the upload component hands the file itself to
    the callback, which reads it as the library does."""
    path = tmp_path / "upload.png"
    write(path)
    received = input_image().preprocess(ImageData(path=str(path), orig_name=path.name))
    assert np.array_equal(np.asarray(read_image(received)), np.asarray(load_image(path)))
    assert np.allclose(space.reconstruct(received, "car", 64).latent,
                       tiny_pipeline(str(path), output_type="latent").latents[0].numpy(), atol=1e-6)


def test_a_large_image_is_reduced_and_reconstructed_on_both_sides(tiny_pipeline, space):
    """Defect 4: images are made small (longest side MAX_SIDE) before any float copy."""
    wide = np.full((64, 4100, 3), 255, np.uint8)
    wide[16:48, 1500:2600] = (200, 30, 30)
    assert max(load_image(wide).size) <= MAX_SIDE
    latent = tiny_pipeline(wide, output_type="latent").latents[0]
    assert np.allclose(space.reconstruct(wide, "car", 64).latent, latent.numpy(), atol=1e-6)


# ---- options ---------------------------------------------------------------------------------------------
def test_bad_options_are_refused_before_any_work(tiny_pipeline, space):
    image = np.full((32, 32, 3), 255, np.uint8)
    with pytest.raises(ValueError, match=r"resolution must be an integer in \[16, 512\]"):  # 1024 took 8.8 GB
        tiny_pipeline(image, resolution=1024)
    with pytest.raises(ValueError, match="preview_size must be an integer"):  # was a reshape error
        tiny_pipeline(image, output_type="preview", preview_size=-5)
    with pytest.raises(ValueError, match="NaN or infinite"):  # was found only after every SDF query
        tiny_pipeline.decode_latent(torch.full((tiny_pipeline.latent_size,), float("nan")), 32)
    with pytest.raises(gr.Error, match="from 64 to 256"):
        space(image, "car", 1024, "glb", False)
    with pytest.raises(gr.Error, match="Unknown category"):
        space(image, "boat", 64, "glb", False)


# ---- model folders: the Space loads with the library's loader, so both refuse alike --------------------------
def _index_naming_os_system(folder):
    index = json.loads((folder / "model_index.json").read_text())
    index["dit"] = ["os", "system"]
    (folder / "model_index.json").write_text(json.dumps(index))


def _corrupt_weights(folder):
    (folder / "dit" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00" * 100)


def _damage(name):
    from test_pipeline import DAMAGE  # defects 1 (pickles) and 2 (missing tensors) live in its table

    return DAMAGE[name]


BAD_FOLDERS = {
    "corrupt-weights": (_corrupt_weights, "'dit'.*corrupted"),
    "model-index-naming-os-system": (_index_naming_os_system, "cannot load the pipeline"),
    "pickle-beside-decoy": _damage("pickle-beside-decoy"),
    "dit-missing-tensor": _damage("dit-missing-tensor"),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_a_bad_model_folder_is_one_clear_error_in_the_library_and_the_space(tiny_pipeline_dir, tmp_path,
                                                                           monkeypatch, case):
    from space.models import load_pipelines

    damage, match = BAD_FOLDERS[case]
    folder = tmp_path / "model"
    shutil.copytree(tiny_pipeline_dir, folder)
    damage(folder)
    calls = []
    monkeypatch.setattr(os, "system", lambda *args: calls.append(args))
    with pytest.raises(PipelineLoadError, match=match):
        LatentMapperPipeline.from_pretrained(folder)
    with pytest.raises(PipelineLoadError, match=match):
        load_pipelines(str(folder), device="cpu")
    assert calls == []


# ---- command lines: one line on stderr, exit 2, before any work ---------------------------------------------
@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "car.png"
    Image.new("RGB", (32, 32), "white").save(path)
    return path


COMMANDS = {
    "reconstruct-bad-device": ("reconstruct", ["--device", "banana"], "not a device PyTorch knows"),
    "reconstruct-out-is-a-file": ("reconstruct", ["--out", "{file}"], "exists and is not a folder"),
    "build-out-cannot-be-made": ("build", ["--out", "/proc/latentmapper-missing/out"], "cannot write the output folder"),
    "build-out-under-a-file": ("build", ["--out", "{file}/out"], "cannot write the output folder"),
    "build-bad-image-size": ("build", ["--image-size", "0"], "image-size must be"),
}


@pytest.mark.parametrize("case", list(COMMANDS))
def test_a_bad_command_line_is_one_line_and_exit_2(tiny_pipeline_dir, tmp_path, photo, capsys, case):
    from latentmapper.cli import main as latentmapper_main
    from latentmapper.cli.data import main as data_main

    command, extra, message = COMMANDS[case]
    existing = tmp_path / "existing-file"
    existing.write_text("precious")
    extra = [a.format(file=existing) for a in extra]
    if command == "reconstruct":
        code = latentmapper_main(["reconstruct", str(photo), "--model", str(tiny_pipeline_dir),
                                  "--out", str(tmp_path / "meshes"), *extra])
    else:
        code = data_main(["build", "--category", "car", "--num-shapes", "3", "--out", str(tmp_path / "data"),
                          "--workers", "1", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    assert existing.read_text() == "precious"
