"""The library as a user installs it: a wheel in a fresh virtual environment, run from outside the checkout.

An editable install (or the checkout on ``sys.path``) hides files that a wheel lacks, such as
the card templates, and code that reaches into the checkout (``checkpoints/``). Here the wheel
is built from the package sources, installed into a new virtual environment, and a script run
from a folder outside the checkout reconstructs a shipped pipeline's example (the pipeline and the
matting U-Net given by path), writes the model card and runs photo mode.

To spare reinstalling torch and the rest, the fresh environment sees this environment's
dependencies through a ``.pth`` file listing its site-packages folders: a plain path line, so
the ``.pth`` files inside them (the editable install of latentmapper) are not processed.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CAR = ROOT / "checkpoints" / "latentmapper-car"
MATTING = ROOT / "checkpoints" / "photo-matting"
EXAMPLE = ROOT / "space" / "examples" / "car-20-yaw060.png"

SCRIPT = r'''
import json, sys
import numpy as np
import torch
from diffusers import UNet2DModel
from PIL import Image

import latentmapper
from latentmapper import LatentMapperPipeline
from latentmapper.photo import make_photo_like

pipeline, matting, example, saved = sys.argv[1:5]
pipe = LatentMapperPipeline.from_pretrained(pipeline, matting=UNet2DModel.from_pretrained(matting))
pipe.set_progress_bar_config(disable=True)
render = Image.open(example).convert("RGB")
mesh = pipe(render, resolution=64).meshes[0]
pipe.save_pretrained(saved)  # components and the model card (README.md)
photo = make_photo_like(render, np.random.default_rng(0))  # on a backdrop, shifted colours
latent = lambda image, **kw: pipe(image, output_type="latent", **kw).latents[0]
clean, off, on = latent(render), latent(photo), latent(photo, photo_mode=True)
print(json.dumps({
    "latentmapper": latentmapper.__file__, "faces": len(mesh.faces), "watertight": bool(mesh.is_watertight),
    "photo_components": [type(getattr(pipe, n)).__name__ for n in ("framing", "matting", "translator")],
    "on_to_clean": float(torch.dist(on, clean)), "off_to_clean": float(torch.dist(off, clean)),
}))
'''


def _dependency_folders() -> list[str]:
    """This environment's site-packages folders (where torch, diffusers, ... are installed)."""
    folders = [*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return list(dict.fromkeys(folder for folder in folders if Path(folder).is_dir()))


CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")} | {"HF_HUB_OFFLINE": "1"}


def _run(command: list, **kwargs) -> subprocess.CompletedProcess:
    """``command`` without PYTHONPATH: a checkout on it would make pip see latentmapper as installed already."""
    result = subprocess.run(command, capture_output=True, text=True, env=CLEAN_ENV, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
@pytest.mark.skipif(not (CAR.is_dir() and MATTING.is_dir()), reason="the shipped pipelines are not in this checkout")
def test_a_wheel_installed_in_a_fresh_environment_reconstructs_writes_the_card_and_runs_photo_mode(tmp_path):
    # the wheel, built from a copy of the package sources (a build/ folder in the checkout could hold stale files)
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "latentmapper", source / "latentmapper",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", str(tmp_path / "dist"), str(source)])
    wheel = next((tmp_path / "dist").glob("latentmapper-*.whl"))

    # a fresh environment with the wheel installed; the dependencies seen through a .pth file
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)])
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(purelib) / "test_dependencies.pth").write_text("\n".join(_dependency_folders()) + "\n")

    work = tmp_path / "work"  # outside the checkout, so nothing is found beside the working directory
    work.mkdir()
    (work / "run.py").write_text(SCRIPT)
    result = _run([str(python), "run.py", str(CAR), str(MATTING), str(EXAMPLE), str(work / "saved")], cwd=work)
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert Path(report["latentmapper"]).resolve().is_relative_to(venv.resolve())  # the wheel's copy, not the checkout's
    assert report["faces"] > 500 and report["watertight"]
    card = (work / "saved" / "README.md").read_text()
    assert "## Limitations" in card and "| `mapper` | `LatentMapper` |" in card  # the project's template, filled
    assert "pipeline_tag: image-to-3d" in card and "Model Card for" not in card  # not huggingface_hub's generic card
    assert report["photo_components"] == ["FramingReference", "UNet2DModel", "ResnetGenerator"]  # the car pipeline's
    assert report["on_to_clean"] < report["off_to_clean"]  # photo mode brings the photo's latent nearer the render's
