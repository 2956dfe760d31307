"""``latentmapper reconstruct``: one mesh per image, bad images reported while the rest still run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from latentmapper.cli import main
from latentmapper.cli.reconstruct import output_paths


def _photos(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"photo{i}.png"
        Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("file_type", ["glb", "obj", "ply"])
def test_writes_one_mesh_per_image(tiny_pipeline_dir, tmp_path, file_type):
    images = _photos(tmp_path, 2)
    out = tmp_path / "meshes"
    code = main(["reconstruct", *map(str, images), "--model", str(tiny_pipeline_dir), "--out", str(out),
                 "--resolution", "24", "--format", file_type])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [f"photo0.{file_type}", f"photo1.{file_type}"]
    mesh = trimesh.load(out / f"photo0.{file_type}", force="mesh")
    assert len(mesh.faces) > 0


def test_a_bad_image_is_reported_and_the_rest_still_run(tiny_pipeline_dir, tmp_path, capsys):
    good = _photos(tmp_path, 2)
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8)).save(tiny)
    out = tmp_path / "meshes"
    args = [str(good[0]), str(broken), str(tmp_path / "missing.jpg"), str(tiny), str(good[1])]
    code = main(["reconstruct", *args, "--model", str(tiny_pipeline_dir), "--out", str(out), "--resolution", "24"])
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["photo0.glb", "photo1.glb"]
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and "not an image file" in captured.err
    assert "missing.jpg" in captured.err and "not found" in captured.err
    assert "8x8 pixels" in captured.err
    assert "wrote 2 meshes" in captured.out and "3 image(s) failed" in captured.out


def test_an_unloadable_model_exits_2(tmp_path, capsys):
    image = _photos(tmp_path, 1)[0]
    assert main(["reconstruct", str(image), "--model", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2
    assert "cannot load the pipeline" in capsys.readouterr().err


def test_output_names_follow_the_images_and_stay_unique(tmp_path):
    images = [Path("a/car.png"), Path("b/car.jpg"), Path("plane.webp"), Path("c/car.png")]
    names = [p.name for p in output_paths(images, tmp_path, "obj")]
    assert names == ["car.obj", "car-1.obj", "plane.obj", "car-2.obj"]


@pytest.mark.parametrize(
    "extra, message",
    [(["--device", "banana"], "'banana' is not a device PyTorch knows"),
     (["--device", "cuda"], "sees no CUDA GPU"),
     (["--out", "EXISTING_FILE"], "exists and is not a folder"),
     (["--resolution", "1024"], "resolution must be an integer in [16, 512]")],
)
def test_bad_device_or_output_is_one_line_and_exit_2(tiny_pipeline_dir, tmp_path, capsys, extra, message):
    """Issue 19: these gave tracebacks (RuntimeError, AssertionError, FileExistsError)."""
    import torch

    if extra[1] == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    image = _photos(tmp_path, 1)[0]
    existing = tmp_path / "mesh.glb"
    existing.write_bytes(b"precious")
    args = ["reconstruct", str(image), "--model", str(tiny_pipeline_dir), "--out", str(tmp_path / "meshes"), *extra]
    args = [str(existing) if a == "EXISTING_FILE" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert existing.read_bytes() == b"precious"


def test_photo_runs_the_pipeline_s_photo_mode(tiny_pipeline_dir, tmp_path, capsys):
    """``--photo``: matting first, so an image with nothing to cut out fails (and the others still run)."""
    from latentmapper.photo.learned_matting import matting_unet

    photo, blank = tmp_path / "photo.png", tmp_path / "blank.png"
    image = Image.new("RGB", (48, 40), (110, 130, 100))
    image.paste((200, 40, 40), (10, 12, 38, 28))
    image.save(photo)
    Image.new("RGB", (48, 40), "white").save(blank)
    out = tmp_path / "meshes"
    common = ["--model", str(tiny_pipeline_dir), "--out", str(out), "--resolution", "24"]
    assert main(["reconstruct", str(blank), *common]) == 0  # a white image is fine as a render
    assert main(["reconstruct", str(photo), str(blank), *common, "--photo"]) == 1
    captured = capsys.readouterr()
    assert "blank.png" in captured.err and "no object" in captured.err and "wrote 1 mesh" in captured.out
    matting = matting_unet((8, 16), sample_size=32)
    matting.conv_out.bias.data.fill_(6.0)  # whatever the random weights: the object is found
    matting.save_pretrained(tmp_path / "matting")
    assert main(["reconstruct", str(photo), *common, "--photo", "--matting", str(tmp_path / "matting")]) == 0
    assert main(["reconstruct", str(photo), *common, "--photo", "--matting", str(tmp_path / "none")]) == 2
    assert "cannot load the matting U-Net" in capsys.readouterr().err
